// What a JSON text would build, counted from its bytes before JSON.parse builds it: millions
// of empty strings, arrays or numbers in a 10 MB body cost hundreds of MB and a long stall
// once parsed, so a request is refused on these counts first. One pass, no allocation; the
// counts are an upper bound for malformed JSON, which JSON.parse then refuses.

export interface JsonValueCounts {
  /** Strings, object keys included. */
  strings: number;
  /** Arrays and objects. */
  containers: number;
  /** Numbers, true, false and null. */
  scalars: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Counts the values in `text` and stops at the first count above its limit: that count's
 * name, or undefined when every count is within `limits`.
 */
export function exceededJsonCount(text: Uint8Array, limits: JsonValueCounts): keyof JsonValueCounts | undefined {
  let strings = 0;
  let containers = 0;
  let scalars = 0;
  let expectValue = true;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i] as number;
    switch (c) {
      case QUOTE:
        if (++strings > limits.strings) return 'strings';
        // Skip to the closing quote; an escaped character is skipped whole.
        for (i++; i < n; i++) {
          const s = text[i] as number;
          if (s === BACKSLASH) i++;
          else if (s === QUOTE) break;
        }
        expectValue = false;
        break;
      case 0x5b: // [
      case 0x7b: // {
        if (++containers > limits.containers) return 'containers';
        expectValue = true;
        break;
      case 0x2c: // ,
      case 0x3a: // :
        expectValue = true;
        break;
      case 0x5d: // ]
      case 0x7d: // }
        expectValue = false;
        break;
      case 0x20:
      case 0x09:
      case 0x0a:
      case 0x0d:
        break;
      default:
        // The first byte of a number or literal.
        if (expectValue) {
          if (++scalars > limits.scalars) return 'scalars';
          expectValue = false;
        }
    }
  }
  return undefined;
}
