import { connect, createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now: bound to an ephemeral port, then
 * released. For servers a test starts on it. Not for "nothing answers there" addresses: any
 * process on the machine that listens on port 0 (the suite's other servers, run in parallel) can
 * be handed the same port a moment later; use {@link refusedPort} for those.
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

/**
 * Lowest and highest port {@link refusedPort} picks from: below Linux's default ephemeral range
 * (32768-60999, `net.ipv4.ip_local_port_range`), where no `listen(0)` of the suite's servers can
 * land, and above the fixed ports of the services tests use (PostgreSQL 5432, Redis 6379).
 */
const REFUSED_PORT_RANGE = [20_000, 29_999] as const;

/**
 * A TCP port on 127.0.0.1 where a connection is refused, and stays refused for the test: outside
 * the ephemeral range (so no server started on port 0 takes it meanwhile) and probed to refuse
 * now. For "nothing answers there" addresses (a store or upstream that is down).
 *
 * @example
 * ```ts
 * const url = `postgres://postgres@127.0.0.1:${await refusedPort()}/test`;
 * ```
 */
export async function refusedPort(): Promise<number> {
  const [low, high] = REFUSED_PORT_RANGE;
  for (let attempt = 0; attempt < 64; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (await refuses(port)) return port;
  }
  throw new Error(`refusedPort: every port probed in ${low}-${high} on 127.0.0.1 accepted a connection`);
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}
