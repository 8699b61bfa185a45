/**
 * The PostgreSQL change feed's push side: one dedicated connection that LISTENs on the store's
 * channel and passes each NOTIFY payload (a key id) on. It reconnects with backoff after a lost
 * connection and reports its state, so the key service polls the feed while it is down.
 */
import type { KeyStore } from '../ports/key-store.js';
import type { PgListenClient, PgPoolLike } from './drivers.js';

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Makes the store's `watchChanges`: each call opens a LISTEN connection from `pool` on `channel`;
 * the stop function it returns (also kept in `watchers`, for `close()`) ends it. A pool whose
 * clients have no `on()` cannot LISTEN: the feed then stops at once and the service polls.
 *
 * @example
 * ```ts
 * const watchChanges = pgListenFeed(pool, 'hmac_kit_key_changes', new Set());
 * const stop = await watchChanges((keyId) => cache.evict(keyId), (up) => console.log({ up }));
 * ```
 */
export function pgListenFeed(
  pool: PgPoolLike,
  channel: string,
  watchers: Set<() => Promise<void>>,
): NonNullable<KeyStore['watchChanges']> {
  return async (listener, onStatus) => {
    let stopped = false;
    let client: PgListenClient | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    let delay = 100;
    const drop = (error?: Error) => {
      if (!client) return;
      const broken = client;
      client = undefined;
      try {
        broken.release(error ?? true);
      } catch {}
      onStatus?.(false);
      schedule();
    };
    const schedule = () => {
      if (stopped || retryTimer) return;
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        void connect();
      }, delay);
      retryTimer.unref?.();
      delay = Math.min(delay * 2, 5000);
    };
    const connect = async () => {
      if (stopped) return;
      let next: PgListenClient;
      try {
        next = (await pool.connect()) as PgListenClient;
      } catch {
        onStatus?.(false);
        schedule();
        return;
      }
      if (typeof next.on !== 'function') {
        // Optional capability: without notifications the service relies on polling the feed.
        next.release();
        stopped = true;
        return;
      }
      next.on('notification', (message) => {
        if (message.channel === channel && message.payload) listener(message.payload);
      });
      next.on('error', (error) => {
        if (client === next) drop(error ?? new Error('listen connection error'));
      });
      next.on('end', () => {
        if (client === next) drop(new Error('listen connection ended'));
      });
      try {
        await next.query(`LISTEN ${quoteIdentifier(channel)}`, []);
      } catch (error) {
        try {
          next.release(error as Error);
        } catch {}
        onStatus?.(false);
        schedule();
        return;
      }
      if (stopped) {
        next.release(true);
        return;
      }
      client = next;
      delay = 100;
      onStatus?.(true);
    };
    await connect();
    const stop = async () => {
      stopped = true;
      watchers.delete(stop);
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      if (current) {
        await current.query(`UNLISTEN ${quoteIdentifier(channel)}`, []).catch(() => undefined);
        // Destroy rather than return it to the pool: it carried a LISTEN.
        current.release(true);
      }
    };
    watchers.add(stop);
    return stop;
  };
}
