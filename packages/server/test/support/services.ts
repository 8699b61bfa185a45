import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, it } from 'vitest';

export const pgUrl = process.env.HMAC_KIT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const redisUrl = process.env.HMAC_KIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    client.disconnect();
  }
}

/**
 * `describe` for suites that need real services: runs them when they answer; otherwise
 * fails under `CI=true` and elsewhere skips with a visible notice.
 */
export async function describeWithServices(
  name: string,
  needs: { postgres?: boolean; redis?: boolean; nginx?: string | undefined },
  body: () => void,
): Promise<void> {
  const problems: string[] = [];
  if (needs.postgres) {
    const problem = await probePostgres();
    if (problem) problems.push(`PostgreSQL at ${pgUrl} (${problem})`);
  }
  if (needs.redis) {
    const problem = await probeRedis();
    if (problem) problems.push(`Redis at ${redisUrl} (${problem})`);
  }
  if ('nginx' in needs && !needs.nginx) problems.push('nginx (apt-get install -y nginx)');
  if (problems.length === 0) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs its services', () => {
        throw new Error(`unavailable: ${problems.join('; ')}; CI requires them`);
      });
    });
    return;
  }
  console.warn(`[hmac-kit] SKIPPED "${name}": unavailable: ${problems.join('; ')}`);
  describe.skip(name, body);
}

/** A TCP forwarder the tests can cut and restore, to simulate a store going down. */
export interface TcpProxy {
  port: number;
  url(template: string): string;
  /** Closes the listener and every open connection. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const listener = createServer((socket) => {
        const upstream = connect(targetPort, targetHost);
        sockets.add(socket);
        sockets.add(upstream);
        const drop = () => {
          socket.destroy();
          upstream.destroy();
          sockets.delete(socket);
          sockets.delete(upstream);
        };
        socket.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        socket.pipe(upstream);
        upstream.pipe(socket);
      });
      server = listener;
      listener.once('error', reject);
      listener.listen(port, '127.0.0.1', () => {
        port = (listener.address() as { port: number }).port;
        resolve();
      });
    });
  const down = async () => {
    const closing = server ? new Promise<void>((resolve) => server?.close(() => resolve())) : Promise.resolve();
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    server = undefined;
    await closing;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    url: (template) => template.replace('{port}', String(port)),
    down,
    up: listen,
    close: down,
  };
}
