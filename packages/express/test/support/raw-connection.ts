import { connect, type Socket } from 'node:net';

/**
 * A raw HTTP/1.1 connection to `origin`: writes what it is given and collects what comes back
 * (latin1, byte for byte), for tests that pipeline requests or send heads a client library would not.
 *
 * @example
 * ```ts
 * const { socket, received, closed } = rawConnection(harness.origin);
 * socket.write('GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n');
 * await untilValue(() => (received().includes('\r\n\r\n') ? true : undefined), 'the answer');
 * ```
 */
export function rawConnection(origin: string): { socket: Socket; received: () => string; closed: Promise<void> } {
  const { hostname, port } = new URL(origin);
  const socket = connect(Number(port), hostname);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  return { socket, received: () => text, closed };
}

/** The head of a `POST path HTTP/1.1` to `host` with `content-length: length` and `headers`, for {@link rawConnection}. */
export function postHead(host: string, path: string, headers: Record<string, string>, length: number): string {
  const lines = [`POST ${path} HTTP/1.1`, `host: ${host}`, `content-length: ${length}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
