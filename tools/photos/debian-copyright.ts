// The licence of one file, read from the package's /usr/share/doc/<pkg>/copyright.
// Machine-readable files (DEP-5) have per-file stanzas; the last stanza whose Files
// pattern matches wins, as the format says. Stanza patterns name paths in the source
// tree (`nature/Aqua.jpg`), installed files live elsewhere
// (`usr/share/backgrounds/mate/nature/Aqua.jpg`), so a pattern matches a path that ends
// with it, or — for a pattern without wildcards — a file of the same name.
import { globToRegExp } from './review.js';

export const UNKNOWN_LICENCE = 'UNKNOWN';

export interface CopyrightStanza {
  files: string[];
  licence: string;
}

export interface DebianCopyright {
  machineReadable: boolean;
  stanzas: CopyrightStanza[];
  /** For files that are not machine-readable: the first `License:` named, if any. */
  fallback: string;
}

export function parseDebianCopyright(text: string): DebianCopyright {
  const machineReadable = /^Format:\s*\S*copyright-format/m.test(text);
  const stanzas: CopyrightStanza[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const fields = parseFields(paragraph);
    const files = fields.get('files');
    const licence = fields.get('license');
    if (files === undefined || licence === undefined) continue;
    stanzas.push({ files: files.split(/\s+/).filter((f) => f !== ''), licence: licenceName(licence) });
  }
  const named = /^License:[ \t]*(\S[^\n]*)$/m.exec(text);
  return { machineReadable, stanzas, fallback: named?.[1]?.trim() ?? UNKNOWN_LICENCE };
}

/** The licence short name for a path inside the package (`usr/share/…`). */
export function licenceFor(copyright: DebianCopyright, pathInPackage: string): string {
  let found: string | undefined;
  for (const stanza of copyright.stanzas) {
    if (stanza.files.some((pattern) => patternMatches(pattern, pathInPackage))) found = stanza.licence;
  }
  return found ?? copyright.fallback;
}

function patternMatches(pattern: string, path: string): boolean {
  if (globToRegExp(pattern).test(path) || globToRegExp(`*/${pattern}`).test(path)) return true;
  const base = pattern.slice(pattern.lastIndexOf('/') + 1);
  return !/[*?]/.test(base) && base === path.slice(path.lastIndexOf('/') + 1);
}

/** `Name: value` fields with continuation lines; names lower-cased. */
function parseFields(paragraph: string): Map<string, string> {
  const fields = new Map<string, string>();
  let current: string | undefined;
  for (const line of paragraph.split('\n')) {
    const field = /^([A-Za-z-]+):(.*)$/.exec(line);
    if (field?.[1] !== undefined) {
      current = field[1].toLowerCase();
      fields.set(current, (field[2] ?? '').trim());
    } else if (current !== undefined && /^\s/.test(line)) {
      fields.set(current, `${fields.get(current) ?? ''}\n${line.trim()}`);
    }
  }
  return fields;
}

/** A License field's first line is the short name; empty means the text follows. */
function licenceName(field: string): string {
  const first = field.split('\n')[0]?.trim() ?? '';
  return first === '' ? 'custom (text in the package copyright file)' : first;
}
