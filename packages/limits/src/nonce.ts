import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { callRedis, luaScript, type RedisBackendOptions, replyInteger, resolveRedisBackend } from './redis-client.js';
import { requireClock, requireNumber, requirePositiveNumber, requireString } from './validate.js';

/**
 * The one key a (key id, nonce) pair is stored under. The key id is length-prefixed so
 * that `("a:b", "c")` and `("a", "b:c")` never collide.
 */
function nonceSlot(keyId: string, nonce: string): string {
  return `${keyId.length}:${keyId}:${nonce}`;
}

function checkArguments(keyId: unknown, nonce: unknown, ttlSeconds: unknown): void {
  requireString('checkAndStore: keyId', keyId);
  requireString('checkAndStore: nonce', nonce);
  requirePositiveNumber('checkAndStore: ttlSeconds', ttlSeconds);
}

/** Options of {@link redisNonceStore}. */
export interface RedisNonceStoreOptions extends RedisBackendOptions {
  /**
   * Awaited after a nonce is recorded and before it counts as new, with the nonce's Redis key:
   * the place to make sure the record survives a failover (Redis replicates asynchronously, so a
   * master that dies right after the write can take the nonce with it, and the promoted replica
   * would accept the replay). Typically `WAIT` for a replica on the key's node, checking the key is
   * still there. A rejection (or no answer within `timeoutMs`) fails closed: `StoreUnavailable`.
   */
  confirmDurable?: (key: string) => Promise<void>;
  /** Current time in milliseconds (like `Date.now`), written into epoch markers; injectable for tests. */
  now?: () => number;
}

/** How many hash tags nonce keys are spread over; each has its own epoch marker. */
export const NONCE_SHARDS = 16;

/**
 * Records a nonce unless the shard's epoch marker says the store was reset since the caller
 * checked the request. KEYS: marker, nonce key. ARGV: checked epoch, now (s), ttl (ms).
 * Replies {status, marker}: 1 recorded, 0 already there, -1 marker was missing (written now:
 * this shard lost its data), -2 marker is newer than the checked epoch.
 */
const RECORD_SCRIPT = luaScript(`
local marker = redis.call('GET', KEYS[1])
if not marker then
  redis.call('SET', KEYS[1], ARGV[2])
  return {-1, ARGV[2]}
end
if tonumber(marker) > tonumber(ARGV[1]) then return {-2, marker} end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX') then return {1, marker} end
return {0, marker}
`);

/** Reads a shard's epoch marker, writing it (now) when the shard is seen empty. KEYS: marker. ARGV: now (s). */
const MARKER_SCRIPT = luaScript(`
local marker = redis.call('GET', KEYS[1])
if marker then return marker end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`);

/** Which shard a slot's key lives in: FNV-1a over its UTF-16 code units. */
function shardOf(slot: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < slot.length; index++) {
    hash ^= slot.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % NONCE_SHARDS;
}

function markerValue(reply: unknown, what: string): number {
  const value = typeof reply === 'string' ? Number(reply) : reply;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new StoreUnavailable(`Redis ${what} returned an unexpected reply`);
  }
  return value;
}

/** The part of an ioredis client that reports (re)connections (optional). */
interface ReconnectingClient {
  on?(event: 'ready', listener: () => void): unknown;
}

/**
 * How many times a client has become ready, counted by one listener per client however many stores
 * share it (a listener per store would pile up on a long-lived client).
 */
const connections = new WeakMap<object, { readyCount: number }>();
function connectionOf(client: object): { readyCount: number } {
  let state = connections.get(client);
  if (state === undefined) {
    const created = { readyCount: 0 };
    state = created;
    connections.set(client, created);
    const reconnecting = client as ReconnectingClient;
    if (typeof reconnecting.on === 'function') {
      reconnecting.on('ready', () => {
        created.readyCount++;
      });
    }
  }
  return state;
}

/**
 * A {@link NonceStore} in Redis, shared by every instance of a service. Each pair is one key
 * written with `SET key 1 PX ttl NX` inside a Lua script, which is atomic: of any number of
 * concurrent callers on any number of instances exactly one sees `true`. Redis errors and timeouts
 * throw `StoreUnavailable` (fail closed).
 *
 * Epoch: nonce keys are spread over {@link NONCE_SHARDS} hash tags `{0}`..`{15}` (cluster safe: a
 * key and its shard's marker share a slot). Each shard has a marker key holding the Unix second
 * its data begins, written when the shard is first seen empty; `epoch()` is the latest of them.
 * A Redis restarted without persistence (or a cluster node that lost its data, or an evicted
 * marker) has no marker: the next read writes a new one, so `epoch()` moves to now and requests
 * signed before it are refused. Markers are re-read on every reconnect (when the client emits
 * `ready`, as ioredis does) and checked by every `checkAndStore` in the same script as the write,
 * so no nonce is ever recorded against an epoch older than the store's.
 *
 * @example
 * import { Redis } from 'ioredis';
 * const client = new Redis(process.env.REDIS_URL!, { ...recommendedRedisOptions });
 * const nonces = redisNonceStore({ client, prefix: 'api:' });
 * const epoch = await nonces.epoch!();
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300, epoch);
 */
export function redisNonceStore(options: RedisNonceStoreOptions): NonceStore {
  const backend = resolveRedisBackend(options, 'redisNonceStore');
  const keyPrefix = `${backend.prefix}nonce:`;
  const { confirmDurable } = options;
  if (confirmDurable !== undefined && typeof confirmDurable !== 'function') {
    throw new TypeError('redisNonceStore: options.confirmDurable must be a function');
  }
  const now = requireClock('redisNonceStore: options.now', options.now ?? Date.now);
  const markerKey = (shard: number) => `${keyPrefix}{${shard}}:epoch`;
  // Known marker per shard; `undefined` until read. `loading` is the read in flight.
  const markers: Array<number | undefined> = new Array(NONCE_SHARDS).fill(undefined);
  let known: number | undefined;
  let loading: Promise<number> | undefined;
  let generation = 0;

  const nowSeconds = () => Math.floor(now() / 1000);
  const learn = (shard: number, marker: number) => {
    const previous = markers[shard];
    if (previous === undefined || marker > previous) markers[shard] = marker;
    if (known !== undefined && marker > known) known = marker;
  };
  const load = (): Promise<number> => {
    const started = generation;
    const reads = Array.from({ length: NONCE_SHARDS }, (_, shard) =>
      MARKER_SCRIPT.run(backend, 'epoch marker', [markerKey(shard)], [nowSeconds()]).then((reply) => {
        learn(shard, markerValue(reply, 'epoch marker'));
      }),
    );
    const read = Promise.all(reads).then(() => {
      const epoch = Math.max(...(markers as number[]));
      // A reconnect during the read started another one: this answer may predate it.
      if (generation === started) known = epoch;
      return epoch;
    });
    loading = read;
    read.then(
      () => {
        if (loading === read) loading = undefined;
      },
      () => {
        if (loading === read) loading = undefined;
      },
    );
    return read;
  };
  // Every reconnect may be to a Redis that restarted empty: read the markers again before trusting them.
  const connection = connectionOf(backend.client);
  let seenConnections = connection.readyCount;
  const currentEpoch = (): number | Promise<number> => {
    if (connection.readyCount !== seenConnections) {
      seenConnections = connection.readyCount;
      generation++;
      known = undefined;
    }
    if (known !== undefined) return known;
    return loading ?? load();
  };

  return {
    epoch: currentEpoch,
    async checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch) {
      checkArguments(keyId, nonce, ttlSeconds);
      if (checkedEpoch !== undefined) requireNumber('checkAndStore: checkedEpoch', checkedEpoch);
      const expected = checkedEpoch ?? (await currentEpoch());
      const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
      const slot = nonceSlot(keyId, nonce);
      const shard = shardOf(slot);
      const key = `${keyPrefix}{${shard}}:${slot}`;
      const reply = await RECORD_SCRIPT.run(
        backend,
        'nonce record',
        [markerKey(shard), key],
        [expected, nowSeconds(), ttlMs],
      );
      const status = replyInteger(reply, 0, 'nonce record');
      learn(shard, replyInteger(reply, 1, 'nonce record'));
      if (status === 1) {
        if (confirmDurable) {
          try {
            await callRedis(backend, 'replica confirmation', () => confirmDurable(key));
          } catch (error) {
            // Unconfirmed: the request is refused (503), so it was never served and nothing can be a
            // replay of it. Take the record back (best effort) so the client's retry of the same
            // signed request is judged afresh instead of answered nonce_replayed.
            await backend.client.del(key).catch(() => undefined);
            throw error;
          }
        }
        return true;
      }
      if (status === 0) return false;
      if (status === -1) {
        // One shard was found empty: the others most likely were lost with it. Date them all now,
        // so that the next requests are checked against the new epoch instead of failing one by one.
        load().catch(() => {});
      }
      if (status === -1 || status === -2) {
        // The store lost data (or another instance saw it first) after this request was checked:
        // recording it now could accept a replay of a request the lost data had seen. Fail closed;
        // a retry is checked against the new epoch.
        throw new StoreUnavailable('the nonce store was reset since this request was checked; retry');
      }
      throw new StoreUnavailable('Redis nonce record returned an unexpected reply');
    },
    async release(keyId, nonce) {
      requireString('release: keyId', keyId);
      requireString('release: nonce', nonce);
      const slot = nonceSlot(keyId, nonce);
      const key = `${keyPrefix}{${shardOf(slot)}}:${slot}`;
      await callRedis(backend, 'DEL', () => backend.client.del(key));
    },
  };
}
