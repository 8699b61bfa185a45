import type { RateLimitDecision, RateLimiter } from '@hmac-kit/core';
import { luaScript, type RedisBackendOptions, replyInteger, resolveRedisBackend } from './redis-client.js';
import { requireClock, requireNonEmptyString, requirePositiveInteger, requirePositiveNumber } from './validate.js';

/** A {@link RateLimitDecision} that also says when a refused request may be retried. */
export interface RateLimitDecisionWithRetry extends RateLimitDecision {
  /** Whole seconds until the next request will be allowed: 0 when allowed. */
  retryAfterSeconds: number;
}

/** A {@link RateLimiter} whose decisions carry {@link RateLimitDecisionWithRetry.retryAfterSeconds}. */
export interface GcraRateLimiter extends RateLimiter {
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecisionWithRetry>;
  hitNow?(key: string, limit: number, windowSeconds: number): RateLimitDecisionWithRetry;
}

/** The memory limiter: a {@link GcraRateLimiter} that also answers synchronously (`hitNow`). */
export interface MemoryRateLimiter extends GcraRateLimiter {
  hitNow(key: string, limit: number, windowSeconds: number): RateLimitDecisionWithRetry;
}

/*
 * GCRA (generic cell rate algorithm): `limit` requests per `windowSeconds`, as a burst of
 * up to `limit` that refills at one request per `window / limit`. One number per key
 * (the theoretical arrival time, TAT), no boundary bursts of fixed windows, and an exact
 * retry time. Everything counts in integer microseconds so that JavaScript and Lua
 * (both IEEE doubles, exact below 2^53) compute identical answers.
 */
interface GcraParameters {
  /** Microseconds one request "costs": ceil(window / limit). */
  intervalUs: number;
  /** How far the TAT may run ahead of now: interval x limit (at least the window). */
  burstUs: number;
}

function gcraParameters(limit: number, windowSeconds: number): GcraParameters {
  const windowUs = Math.max(1, Math.round(windowSeconds * 1_000_000));
  const intervalUs = Math.ceil(windowUs / limit);
  return { intervalUs, burstUs: intervalUs * limit };
}

interface GcraOutcome {
  allowed: boolean;
  /** TAT to store when allowed. */
  newTatUs: number;
  remaining: number;
  resetUs: number;
  retryUs: number;
}

function gcraStep(storedTatUs: number | undefined, nowUs: number, p: GcraParameters): GcraOutcome {
  const tat = storedTatUs !== undefined && storedTatUs > nowUs ? storedTatUs : nowUs;
  const newTat = tat + p.intervalUs;
  if (newTat - nowUs > p.burstUs) {
    return { allowed: false, newTatUs: tat, remaining: 0, resetUs: tat - nowUs, retryUs: newTat - nowUs - p.burstUs };
  }
  return {
    allowed: true,
    newTatUs: newTat,
    remaining: Math.floor((p.burstUs - (newTat - nowUs)) / p.intervalUs),
    resetUs: newTat - nowUs,
    retryUs: 0,
  };
}

function toDecision(
  outcome: { allowed: boolean; remaining: number; resetUs: number; retryUs: number },
  limit: number,
  windowSeconds: number,
): RateLimitDecisionWithRetry {
  return {
    allowed: outcome.allowed,
    limit,
    remaining: outcome.remaining,
    resetSeconds: Math.ceil(outcome.resetUs / 1_000_000),
    windowSeconds,
    retryAfterSeconds: Math.ceil(outcome.retryUs / 1_000_000),
  };
}

function checkHit(key: unknown, limit: unknown, windowSeconds: unknown): void {
  requireNonEmptyString('hit: key', key);
  requirePositiveInteger('hit: limit', limit);
  requirePositiveNumber('hit: windowSeconds', windowSeconds);
}

/** Options of {@link memoryRateLimiter}. */
export interface MemoryRateLimiterOptions {
  /**
   * Most keys tracked at once; beyond it the least recently used key is forgotten
   * (which only forgives that key's past requests). Default 100 000.
   */
  maxKeys?: number;
  /** Current time in milliseconds (like `Date.now`); injectable for tests. */
  now?: () => number;
}

/**
 * A GCRA {@link RateLimiter} in process memory, for a single instance. The limit and
 * window are given per call, so per-key overrides need no configuration here.
 *
 * @example
 * const limiter = memoryRateLimiter();
 * const decision = await limiter.hit('key:hk_live_1', 100, 60); // or limiter.hitNow(...), without a promise
 * if (!decision.allowed) throw new RateLimited('rate limited', {
 *   retryAfter: decision.retryAfterSeconds, limit: decision.limit, windowSeconds: decision.windowSeconds });
 */
export function memoryRateLimiter(options: MemoryRateLimiterOptions = {}): MemoryRateLimiter {
  const maxKeys = requirePositiveInteger('memoryRateLimiter: options.maxKeys', options.maxKeys ?? 100_000);
  const now = requireClock('memoryRateLimiter: options.now', options.now ?? Date.now);
  // Insertion order is recency order: every hit re-inserts its key at the end.
  // Insertion order is recency order: a hit moves its key to the end (delete, then set), and the
  // oldest keys are dropped from the front once expired or beyond maxKeys.
  const tats = new Map<string, number>();
  // The key inserted last (the end of the order), while it is still in the map. A hit on it keeps
  // its place with a plain set: the same order as delete-then-set, without the deleted entry that
  // V8's ordered table keeps until it rebuilds the table (every few hits of one busy key) and
  // that the sweep below would step over.
  let newest: string | undefined;
  // The parameters of the last (limit, window) hit: a server charges every request of a key with
  // the same rule, and gcraParameters() is a pure function of the two (session 21; the rules switch
  // in test/rate-limit-recency.test.ts).
  let lastRule = { limit: 0, windowSeconds: 0, parameters: { intervalUs: 0, burstUs: 0 } };
  function hit(key: string, limit: number, windowSeconds: number): RateLimitDecisionWithRetry {
    checkHit(key, limit, windowSeconds);
    const nowUs = Math.round(now() * 1000);
    const stored = tats.get(key);
    let rule = lastRule;
    if (rule.limit !== limit || rule.windowSeconds !== windowSeconds) {
      rule = { limit, windowSeconds, parameters: gcraParameters(limit, windowSeconds) };
      lastRule = rule;
    }
    const outcome = gcraStep(stored, nowUs, rule.parameters);
    if (outcome.newTatUs > nowUs) {
      if (key === newest) tats.set(key, outcome.newTatUs);
      else {
        tats.delete(key);
        tats.set(key, outcome.newTatUs);
        newest = key;
      }
      // The map holds only the entry just stored, whose TAT is ahead of now (and maxKeys >= 1):
      // the sweep below would stop at it at once, so it is skipped (no iterator per hit for a
      // server with one busy key). Session 21; held by test/rate-limit-recency.test.ts.
      if (tats.size === 1) return toDecision(outcome, limit, windowSeconds);
    } else if (tats.delete(key) && key === newest) newest = undefined;
    // Opportunistically drop the oldest entries once they have fully refilled.
    for (const [oldestKey, oldestTat] of tats) {
      if (oldestTat > nowUs && tats.size <= maxKeys) break;
      tats.delete(oldestKey);
      if (oldestKey === newest) newest = undefined;
    }
    return toDecision(outcome, limit, windowSeconds);
  }
  return {
    // Not an async function: the answer is known synchronously, so it comes back as an already
    // settled promise without an async frame. Errors still arrive as a rejected promise.
    hit(key, limit, windowSeconds) {
      try {
        return Promise.resolve(hit(key, limit, windowSeconds));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    // The same function without the promise (RateLimiter's optional capability): same decisions.
    hitNow: hit,
  };
}

const gcraLua = luaScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > burst then
  return {0, 0, tat - now, new_tat - now - burst}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((burst - (new_tat - now)) / interval), new_tat - now, 0}
`);

/** Options of {@link redisRateLimiter}. */
export type RedisRateLimiterOptions = RedisBackendOptions;

/**
 * A GCRA {@link RateLimiter} in Redis, shared by every instance. One Lua script reads and
 * advances the key's TAT atomically using Redis's own clock (instances' clocks may
 * differ), so concurrent hits from any number of instances never over-admit.
 * Redis errors and timeouts throw `StoreUnavailable`.
 *
 * @example
 * const limiter = redisRateLimiter({ client, prefix: 'api:' });
 * const decision = await limiter.hit('addr:203.0.113.7', 600, 60);
 */
export function redisRateLimiter(options: RedisRateLimiterOptions): GcraRateLimiter {
  const backend = resolveRedisBackend(options, 'redisRateLimiter');
  const keyPrefix = `${backend.prefix}rate:`;
  return {
    async hit(key, limit, windowSeconds) {
      checkHit(key, limit, windowSeconds);
      const p = gcraParameters(limit, windowSeconds);
      const reply = await gcraLua.run(backend, 'rate limit', [keyPrefix + key], [p.intervalUs, p.burstUs]);
      const what = 'rate limit';
      return toDecision(
        {
          allowed: replyInteger(reply, 0, what) === 1,
          remaining: replyInteger(reply, 1, what),
          resetUs: replyInteger(reply, 2, what),
          retryUs: replyInteger(reply, 3, what),
        },
        limit,
        windowSeconds,
      );
    },
  };
}
