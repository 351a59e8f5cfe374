// Putting the host's iptables back exactly as a test found them, after a dockerd of its own
// added its chains, rules, masquerades and the FORWARD policy DROP.

/** The tables Docker may write to; each is snapshotted before and put back after. */
export const IPTABLES_TABLES = ['filter', 'nat', 'mangle', 'raw'] as const;

/**
 * The input of `iptables-restore` that makes `table` exactly what `iptables -t table -S`
 * printed (`rules`): restore replaces the whole table (it flushes every chain and deletes the
 * chains the input does not declare), so Docker's chains, rules and policies go whatever state
 * it left. Rules keep their quoting: `iptables-restore` parses the same syntax `-S` prints.
 */
export function restoreInput(table: string, rules: string): string {
  // iptables-nft may add a comment ("# Warning: iptables-legacy tables present"): not a rule.
  const lines = rules.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const chains = lines.flatMap((l) => {
    const policy = /^-P (\S+) (\S+)$/.exec(l);
    if (policy) return [`:${policy[1]} ${policy[2]} [0:0]`];
    const chain = /^-N (\S+)$/.exec(l);
    return chain ? [`:${chain[1]} - [0:0]`] : [];
  });
  const unknown = lines.filter((l) => !/^-[PNA] /.test(l));
  if (unknown.length > 0) throw new Error(`iptables -t ${table} -S printed lines this cannot restore: ${unknown.join(' | ')}`);
  return [`*${table}`, ...chains, ...lines.filter((l) => l.startsWith('-A ')), 'COMMIT', ''].join('\n');
}
