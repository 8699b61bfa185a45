import type { IncomingMessage } from 'node:http';

/**
 * The client's address: the peer, or, when the peer is a trusted proxy, the nearest
 * untrusted address in X-Forwarded-For (entries added by trusted hops are skipped, so a
 * client cannot pick its own address by sending the header).
 */
export function clientAddressOf(
  request: IncomingMessage,
  isTrusted: (address: string | undefined) => boolean,
  /** The peer's address when the caller has read it already (`request.socket.remoteAddress`). */
  remoteAddress: string | undefined = request.socket.remoteAddress,
): string {
  const peer = remoteAddress ?? 'unknown';
  if (!isTrusted(peer)) return peer;
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const chain = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  for (let index = chain.length - 1; index >= 0; index--) {
    const hop = chain[index] as string;
    if (!isTrusted(hop)) return hop;
  }
  return chain[0] ?? peer;
}
