import { describe, expect, it } from 'vitest';
import { restoreInput } from './iptables.js';

describe('restoreInput (iptables -S → iptables-restore)', () => {
  it('declares the built-in chains with their policies and the user chains, then appends the rules in order', () => {
    const before = [
      '-P INPUT ACCEPT',
      '-P FORWARD ACCEPT',
      '-P OUTPUT ACCEPT',
      '-N MINE',
      '-A INPUT -j MINE',
      '-A MINE -s 10.0.0.0/8 -m comment --comment "kept as is" -j ACCEPT',
      '',
    ].join('\n');
    expect(restoreInput('filter', before)).toBe(
      [
        '*filter',
        ':INPUT ACCEPT [0:0]',
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':MINE - [0:0]',
        '-A INPUT -j MINE',
        '-A MINE -s 10.0.0.0/8 -m comment --comment "kept as is" -j ACCEPT',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it("an empty table before the run becomes its built-in chains only (Docker's chains and rules are dropped by the restore)", () => {
    expect(restoreInput('nat', '-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n')).toBe(
      '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n',
    );
  });

  it('skips comments, and refuses a line it does not understand rather than restore something else', () => {
    expect(restoreInput('raw', '# Warning: iptables-legacy tables present, use iptables-legacy to see them\n-P OUTPUT ACCEPT\n')).toBe(
      '*raw\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n',
    );
    expect(() => restoreInput('filter', '-P INPUT ACCEPT\n-I INPUT -j DROP\n')).toThrow(/cannot restore: -I INPUT -j DROP/);
  });
});
