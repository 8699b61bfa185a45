/**
 * A PostgreSQL that completes the start-up handshake (AuthenticationOk, ReadyForQuery) and then never
 * answers: a server's first query (its migration) waits for ever. For start-up held by its database
 * (startup-signals.test.ts, review17-startup-stop-bound.test.ts).
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';

/** A listening silent PostgreSQL: its `--db` URL, whether a query came, and how to close it. */
export interface SilentPostgres {
  url: string;
  queried(): boolean;
  close(): Promise<void>;
}

/**
 * Starts a {@link SilentPostgres} on 127.0.0.1.
 *
 * @example
 * ```ts
 * const database = await silentPostgres();
 * try {
 *   const started = serve(['--db', database.url]);
 *   await until(() => database.queried());
 * } finally {
 *   await database.close();
 * }
 * ```
 */
export async function silentPostgres(): Promise<SilentPostgres> {
  let queried = false;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let startup = true;
    socket.on('data', () => {
      if (!startup) {
        queried = true;
        return;
      }
      startup = false;
      socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgres://hmac:hmac@127.0.0.1:${port}/hmac`,
    queried: () => queried,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
