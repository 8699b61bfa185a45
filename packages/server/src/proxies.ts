import { BlockList, isIP } from 'node:net';

/**
 * Answers whether a peer address belongs to a configured trusted proxy (IPs or CIDR ranges).
 * IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`) are matched as IPv4.
 *
 * @example
 * ```ts
 * const isTrusted = createProxyTrust(['127.0.0.1', '10.0.0.0/8']);
 * isTrusted('10.1.2.3'); // true
 * ```
 */
export function createProxyTrust(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  // BlockList.check allocates per call; peers repeat, so answers are memoised (bounded).
  const answers = new Map<string, boolean>();
  return function isTrustedProxy(address) {
    if (!address || entries.length === 0) return false;
    const known = answers.get(address);
    if (known !== undefined) return known;
    const mapped = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(mapped) === 6 ? 'ipv6' : isIP(mapped) === 4 ? 'ipv4' : undefined;
    const trusted = family !== undefined && list.check(mapped, family);
    if (answers.size >= 10_000) answers.clear();
    answers.set(address, trusted);
    return trusted;
  };
}
