import { recommendedRedisOptions } from '@hmac-kit/limits';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { describeRedisTarget, parseRedisUrl, type RedisTarget } from './redis-url.js';

/** The clients `hmac-kit serve` uses on one `--redis` target (one server, a Cluster or Sentinel). */
export interface RedisConnection {
  target: RedisTarget;
  /** The target without credentials, for logs. */
  description: string;
  /** Nonces, rate limits, failure counters and invalidation publishes. Fails fast while disconnected. */
  client: Redis | Cluster;
  /** The invalidation bus subscription (queues while disconnected and resubscribes by itself). */
  subscriber: Redis | Cluster;
  /**
   * Resolves once `target.replicas` replicas hold every write made so far on the connection of the
   * node that owns `key` (Redis `WAIT`, sent there with a pipeline so a Cluster routes it by the
   * key); rejects when fewer acknowledge within `target.replicaTimeoutMs`. Undefined when
   * `replicas` is 0.
   */
  confirmDurable?: (key: string) => Promise<void>;
  /** Whether the command connection answers (for `/readyz`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What the connection reports to the server (logs, metrics). */
export interface RedisEvents {
  onError(error: Error): void;
  onReady(): void;
}

/** Node options shared by the command connections of every topology (see recommendedRedisOptions). */
function nodeOptions(target: RedisTarget): RedisOptions {
  return {
    username: target.username,
    password: target.password,
    ...(target.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: recommendedRedisOptions.maxRetriesPerRequest,
    autoResendUnfulfilledCommands: recommendedRedisOptions.autoResendUnfulfilledCommands,
    commandTimeout: recommendedRedisOptions.commandTimeout,
    connectTimeout: recommendedRedisOptions.connectTimeout,
  };
}

function createClients(target: RedisTarget): { client: Redis | Cluster; subscriber: Redis | Cluster } {
  switch (target.kind) {
    case 'standalone': {
      const options: RedisOptions = {
        ...nodeOptions(target),
        host: target.node.host,
        port: target.node.port,
        db: target.db,
      };
      return {
        client: new Redis({ ...options, ...recommendedRedisOptions, lazyConnect: false }),
        subscriber: new Redis({ ...options, maxRetriesPerRequest: null, enableOfflineQueue: true }),
      };
    }
    case 'cluster': {
      const cluster = (subscriber: boolean): ClusterOptions => ({
        // Commands go to masters only: WAIT must run on the connection that made the write.
        scaleReads: 'master',
        enableOfflineQueue: subscriber,
        clusterRetryStrategy: recommendedRedisOptions.retryStrategy,
        // A crashed master answers nothing: find the promoted replica soon after.
        retryDelayOnFailover: 200,
        slotsRefreshTimeout: 2000,
        redisOptions: subscriber
          ? { username: target.username, password: target.password, ...(target.tls ? { tls: {} } : {}) }
          : nodeOptions(target),
      });
      return {
        client: new Cluster(target.nodes, cluster(false)),
        subscriber: new Cluster(target.nodes, cluster(true)),
      };
    }
    case 'sentinel': {
      const options: RedisOptions = {
        ...nodeOptions(target),
        sentinels: target.sentinels,
        name: target.masterName,
        role: 'master',
        db: target.db,
        sentinelUsername: target.username,
        sentinelPassword: target.password,
        ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
        // Subscribes to the sentinels' +switch-master so a failover is followed at once, not on
        // the next error.
        failoverDetector: true,
      };
      return {
        client: new Redis({ ...options, ...recommendedRedisOptions, lazyConnect: false }),
        subscriber: new Redis({ ...options, maxRetriesPerRequest: null, enableOfflineQueue: true }),
      };
    }
  }
}

/**
 * Closes a connection without waiting on an unreachable server: QUIT (which lets replies in
 * flight arrive) only while connected, else a plain disconnect. A QUIT queued on a client that
 * never connects would wait forever, and with it the shutdown.
 */
async function closeClient(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') await client.quit().catch(() => undefined);
  // Always also disconnect: QUIT closes the data connection only, and a Sentinel client's
  // failover detector keeps its own connections to the sentinels (reconnecting forever) until
  // disconnect() cleans them up.
  client.disconnect();
}

/**
 * Starts `client` again whenever ioredis ends it while the connection is still wanted. ioredis ends a
 * client for good when a connect attempt is rejected, and one is: a Sentinel client's failover
 * detector disconnects the connector on +switch-master, and when that comes while a reconnect is
 * asking a sentinel for the master (the master just crashed: the very failover being announced),
 * the reconnect rejects ("Connection is closed.") and no retry follows. Every command would then
 * fail, every request answered 503, until the process restarts (redis-sentinel-reconnect.test.ts).
 */
function keepConnecting(client: Redis, closing: () => boolean): void {
  client.on('end', () => {
    if (closing()) return;
    setTimeout(() => {
      if (!closing() && client.status === 'end') client.connect().catch(() => undefined);
    }, 200).unref();
  });
}

/**
 * Opens the clients for a `--redis` URL (see redis-url.ts for the forms).
 *
 * @example
 * ```ts
 * const redis = openRedis('redis+cluster://10.0.0.1:6379,10.0.0.2:6379', { onError: log, onReady: () => {} });
 * const nonces = redisNonceStore({ client: redis.client, confirmDurable: redis.confirmDurable });
 * ```
 */
export function openRedis(url: string, events: RedisEvents): RedisConnection {
  const target = parseRedisUrl(url);
  const { client, subscriber } = createClients(target);
  let closing = false;
  for (const each of [client, subscriber]) if (each instanceof Redis) keepConnecting(each, () => closing);
  client.on('error', events.onError);
  subscriber.on('error', events.onError);
  client.on('ready', events.onReady);
  // A Cluster reports node errors on its own event too.
  if (client instanceof Cluster) client.on('node error', events.onError);

  let confirmDurable: RedisConnection['confirmDurable'];
  if (target.replicas > 0) {
    const { replicas, replicaTimeoutMs } = target;
    confirmDurable = async (key) => {
      // EXISTS gives the pipeline its key, so a Cluster sends it (and WAIT with it) to the node
      // that owns the key, on the same connection as the write being confirmed.
      const results = await client.pipeline().exists(key).wait(replicas, replicaTimeoutMs).exec();
      const [error, acknowledged] = results?.[1] ?? [new Error('no reply to WAIT')];
      if (error) throw error;
      if (typeof acknowledged !== 'number' || acknowledged < replicas) {
        throw new Error(
          `${String(acknowledged)} of ${replicas} Redis replicas acknowledged within ${replicaTimeoutMs} ms (set replicas= in the --redis URL to what your deployment has)`,
        );
      }
    };
  }

  return {
    target,
    description: describeRedisTarget(target),
    client,
    subscriber,
    confirmDurable,
    async ping() {
      await client.ping();
    },
    async close() {
      closing = true;
      await Promise.all([closeClient(subscriber), closeClient(client)]);
    },
  };
}
