import { describe, expect, it } from 'vitest';
import { blockMsOf } from './link.js';

describe('blockMsOf', () => {
  it('is the BLOCK of XREAD and XREADGROUP, whatever the group and consumer are called', () => {
    expect(blockMsOf(['XREAD', 'COUNT', '512', 'BLOCK', '1000', 'STREAMS', 's', '0-0'])).toBe(1000);
    expect(blockMsOf(['xread', 'block', '250', 'streams', 's', '$'])).toBe(250);
    expect(blockMsOf(['XREADGROUP', 'GROUP', 'BLOCK', 'COUNT', 'COUNT', '8', 'BLOCK', '40', 'STREAMS', 's', '>'])).toBe(40);
    expect(blockMsOf(['XREADGROUP', 'GROUP', 'g', 'BLOCK', 'NOACK', 'STREAMS', 'BLOCK', '>'])).toBe(0);
  });

  it('BLOCK 0 waits forever; other commands and reads without BLOCK do not block', () => {
    expect(blockMsOf(['XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'])).toBe(Number.POSITIVE_INFINITY);
    expect(blockMsOf(['XREAD', 'STREAMS', 'BLOCK', '5'])).toBe(0);
    expect(blockMsOf(['EVALSHA', 'abc', '1', 'BLOCK', '1000'])).toBe(0);
    expect(blockMsOf([Buffer.from('PING')])).toBe(0);
  });
});
