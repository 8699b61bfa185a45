import { StoreUnavailable } from '@hmac-kit/core';
import { requirePositiveNumber, requireString } from './validate.js';

/**
 * The part of an ioredis client (`new Redis(...)`) the Redis backends use. Any client
 * with these method shapes works; the library never imports a Redis driver itself.
 */
export interface RedisClientLike {
  /** `SET key value PX ms NX`: resolves `'OK'` when set, `null` when the key already existed. */
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number, condition: 'NX'): Promise<unknown>;
  /** `EVAL script numKeys ...keysAndArgs`. */
  eval(script: string, numKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  /** `EVALSHA sha1 numKeys ...keysAndArgs`; optional, saves sending the script on every call. */
  evalsha?(sha1: string, numKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  /** `DEL key...`. */
  del(...keys: string[]): Promise<unknown>;
}

/** Options every Redis backend takes. */
export interface RedisBackendOptions {
  client: RedisClientLike;
  /** Prepended to every key this backend writes. Default `hmac-kit:`. */
  prefix?: string;
  /**
   * Longest wait for one Redis answer before failing closed with `StoreUnavailable`, in ms.
   * Default 1000. A backstop for clients created without {@link recommendedRedisOptions}.
   */
  timeoutMs?: number;
}

/**
 * ioredis options for the client handed to the Redis backends, so that an unreachable
 * Redis makes requests fail fast (503) instead of hanging, and so that a command is
 * never silently replayed after a reconnect (a re-sent `SET NX` would report a fresh
 * nonce as replayed). Spread them into `new Redis(url, { ...recommendedRedisOptions })`.
 *
 * @example
 * import { Redis } from 'ioredis';
 * const client = new Redis(process.env.REDIS_URL!, { ...recommendedRedisOptions });
 * const nonces = redisNonceStore({ client });
 */
export const recommendedRedisOptions = Object.freeze({
  /** Reject commands while disconnected rather than queueing them until Redis returns. */
  enableOfflineQueue: false,
  /** Reject in-flight commands as soon as the connection drops. */
  maxRetriesPerRequest: 0,
  /** Never re-send a command whose reply was lost: it may already have taken effect. */
  autoResendUnfulfilledCommands: false,
  /** Give up on one command after this many ms (a half-open connection never errors by itself). */
  commandTimeout: 1000,
  connectTimeout: 2000,
  /** Keep reconnecting forever, at most every 2 s, so the service recovers by itself. */
  retryStrategy: (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
});

export interface ResolvedRedisBackend {
  client: RedisClientLike;
  prefix: string;
  timeoutMs: number;
}

export function resolveRedisBackend(options: RedisBackendOptions, factory: string): ResolvedRedisBackend {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${factory}: options are required`);
  const { client } = options;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.set !== 'function' ||
    typeof client.eval !== 'function' ||
    typeof client.del !== 'function'
  ) {
    throw new TypeError(`${factory}: options.client must be an ioredis-like client with set(), eval() and del()`);
  }
  const prefix = requireString(`${factory}: options.prefix`, options.prefix ?? 'hmac-kit:');
  const timeoutMs = requirePositiveNumber(`${factory}: options.timeoutMs`, options.timeoutMs ?? 1000);
  return { client, prefix, timeoutMs };
}

/**
 * Runs one Redis operation and turns every failure, including no answer within
 * `timeoutMs`, into `StoreUnavailable`: callers fail closed.
 */
export async function callRedis<T>(
  backend: ResolvedRedisBackend,
  what: string,
  operation: () => Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailable(`Redis did not answer ${what} within ${backend.timeoutMs} ms`)),
        backend.timeoutMs,
      );
    });
    return await Promise.race([operation(), timeout]);
  } catch (error) {
    if (error instanceof StoreUnavailable) throw error;
    throw new StoreUnavailable(`Redis ${what} failed`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A Lua script run with EVALSHA when the client offers it, falling back to EVAL once Redis forgets it. */
export interface LuaScript {
  readonly source: string;
  run(
    backend: ResolvedRedisBackend,
    what: string,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown>;
}

export function luaScript(source: string): LuaScript {
  let sha1: string | undefined;
  const sha1Ready = sha1Hex(source).then((digest) => {
    sha1 = digest;
  });
  // The digest is needed only for EVALSHA; never let its rejection go unhandled.
  sha1Ready.catch(() => {});
  return {
    source,
    run(backend, what, keys, args) {
      requireOneSlot(keys);
      const { client } = backend;
      return callRedis(backend, what, async () => {
        if (client.evalsha) {
          if (sha1 === undefined) await sha1Ready.catch(() => {});
          if (sha1 !== undefined) {
            try {
              return await client.evalsha(sha1, keys.length, ...keys, ...args);
            } catch (error) {
              if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
            }
          }
        }
        return client.eval(source, keys.length, ...keys, ...args);
      });
    },
  };
}

/**
 * The part of a key Redis Cluster hashes to pick its slot: the first `{...}` when it is not empty,
 * else the whole key. Keys with the same hash tag always share a slot.
 *
 * @example
 * hashTagOf('hmac-kit:nonce:{7}:abc'); // '7'
 * hashTagOf('hmac-kit:rate:key'); // 'hmac-kit:rate:key'
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/**
 * A script's keys must live in one Redis Cluster slot (a cluster refuses others with CROSSSLOT,
 * and no single node could run the script atomically). Checked on every run, so a script that
 * breaks the rule fails in every test, not only against a cluster.
 */
function requireOneSlot(keys: readonly string[]): void {
  if (keys.length < 2) return;
  const tag = hashTagOf(keys[0] as string);
  if (keys.some((key) => hashTagOf(key) !== tag)) {
    throw new TypeError('Redis script keys must share a Redis Cluster hash tag ({...}) so they hash to one slot');
  }
}

async function sha1Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-1', new TextEncoder().encode(text));
  let hex = '';
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Reads an integer from a script reply, refusing anything else as a store fault. */
export function replyInteger(reply: unknown, index: number, what: string): number {
  const value = Array.isArray(reply) ? reply[index] : undefined;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) {
    throw new StoreUnavailable(`Redis ${what} returned an unexpected reply`);
  }
  return number;
}
