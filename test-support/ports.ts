import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that nothing listens on: bound to an ephemeral port, then released.
 * For servers a test starts on it, and for "nothing answers there" addresses.
 *
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
