import type { FailureThrottle } from '@hmac-kit/core';
import { callRedis, luaScript, type RedisBackendOptions, replyInteger, resolveRedisBackend } from './redis-client.js';
import {
  requireClock,
  requireNonEmptyString,
  requireNonNegativeInteger,
  requirePositiveInteger,
  requirePositiveNumber,
} from './validate.js';

/** How a {@link FailureThrottle} escalates. Every field has a default. */
export interface FailureThrottleOptions {
  /** Failures within `windowSeconds` that trigger the long block. Default 10. */
  maxFailures?: number;
  /** The window `maxFailures` is counted over, in seconds. Default 60. */
  windowSeconds?: number;
  /** Length of the long block, in seconds. Default 300. */
  blockSeconds?: number;
  /** Failures tolerated before any slowdown. Default 3. */
  freeFailures?: number;
  /** Delay after the first failure beyond `freeFailures`, in seconds; doubles with each further one. Default 1. */
  slowdownSeconds?: number;
}

interface ThrottleParameters {
  /** The options as resolved (defaults filled in), in their own units: the throttle's `escalation`. */
  escalation: Readonly<Required<FailureThrottleOptions>>;
  /** Microseconds for one counted failure to decay away: window / maxFailures. */
  decayUs: number;
  maxFailures: number;
  freeFailures: number;
  slowdownUs: number;
  blockUs: number;
}

function resolveThrottleOptions(options: FailureThrottleOptions, factory: string): ThrottleParameters {
  const maxFailures = requirePositiveInteger(`${factory}: options.maxFailures`, options.maxFailures ?? 10);
  const windowSeconds = requirePositiveNumber(`${factory}: options.windowSeconds`, options.windowSeconds ?? 60);
  const blockSeconds = requirePositiveNumber(`${factory}: options.blockSeconds`, options.blockSeconds ?? 300);
  const freeFailures = requireNonNegativeInteger(`${factory}: options.freeFailures`, options.freeFailures ?? 3);
  const slowdownSeconds = requirePositiveNumber(`${factory}: options.slowdownSeconds`, options.slowdownSeconds ?? 1);
  if (freeFailures >= maxFailures) {
    throw new TypeError(`${factory}: options.freeFailures must be less than options.maxFailures`);
  }
  return {
    escalation: Object.freeze({ maxFailures, windowSeconds, blockSeconds, freeFailures, slowdownSeconds }),
    decayUs: Math.max(1, Math.round((windowSeconds * 1_000_000) / maxFailures)),
    maxFailures,
    freeFailures,
    slowdownUs: Math.max(1, Math.round(slowdownSeconds * 1_000_000)),
    blockUs: Math.max(1, Math.round(blockSeconds * 1_000_000)),
  };
}

/*
 * State per subject: a failure count that leaks away at maxFailures per window (a leaky
 * bucket, so "10 in 60 s" holds over any 60 s, not only aligned ones), the time it was
 * last updated, and the time the subject is blocked until. Integer microseconds, like
 * the rate limiter, so that the JavaScript and Lua versions agree exactly.
 */
interface ThrottleState {
  /** Failure count scaled by decayUs: one failure adds decayUs, and it drains 1 per microsecond. */
  levelUs: number;
  updatedUs: number;
  blockedUntilUs: number;
}

function failureStep(state: ThrottleState | undefined, nowUs: number, p: ThrottleParameters): ThrottleState {
  const drained = state ? Math.max(0, state.levelUs - (nowUs - state.updatedUs)) : 0;
  const levelUs = drained + p.decayUs;
  const failures = Math.ceil(levelUs / p.decayUs);
  let delayUs = 0;
  if (failures >= p.maxFailures) delayUs = p.blockUs;
  else if (failures > p.freeFailures) {
    delayUs = Math.min(p.slowdownUs * 2 ** (failures - p.freeFailures - 1), p.blockUs);
  }
  // A new failure never shortens a block already in force.
  const blockedUntilUs = Math.max(state?.blockedUntilUs ?? 0, nowUs + delayUs);
  return { levelUs, updatedUs: nowUs, blockedUntilUs };
}

function usToSeconds(us: number): number {
  // Millisecond precision: enough for short slowdowns, and never rounds a block down to 0.
  return us > 0 ? Math.ceil(us / 1000) / 1000 : 0;
}

// Shared settled answers: a promise that is already resolved can be handed to any number of awaiters.
const RESOLVED_ZERO: Promise<number> = Promise.resolve(0);
const RESOLVED_UNDEFINED: Promise<void> = Promise.resolve();
const RESOLVED_UNRECORDED: Promise<number> = Promise.resolve(-1);

/**
 * A {@link FailureThrottle} that can also say, at the cost of `blockedFor`, that nothing is
 * recorded for a subject: a success then has nothing to clear, and `recordSuccess` (a Redis
 * round trip) can be skipped. Both throttles of this package implement it.
 */
export interface ProbingFailureThrottle extends FailureThrottle {
  /** What `blockedFor` answers, except -1 when nothing is recorded for the subject at all. */
  blockedForOrUnrecorded(subject: string): Promise<number>;
  /** `blockedForOrUnrecorded` answered synchronously, by throttles that have the `*Now` capabilities. */
  blockedForOrUnrecordedNow?(subject: string): number;
}

/** The memory throttle: a {@link ProbingFailureThrottle} with every synchronous capability. */
export interface MemoryFailureThrottle extends ProbingFailureThrottle {
  /** The clock every answer of the throttle reads: its `now` option, or `Date.now`. */
  readonly clock: Readonly<{ now: () => number }>;
  blockedForNow(subject: string): number;
  blockedForOrUnrecordedNow(subject: string): number;
  recordFailureNow(subject: string): number;
  recordSuccessNow(subject: string): void;
}

function checkSubject(subject: unknown): void {
  requireNonEmptyString('subject', subject);
}

/** Options of {@link memoryFailureThrottle}. */
export interface MemoryFailureThrottleOptions extends FailureThrottleOptions {
  /** Most subjects tracked at once; beyond it the least recently failing one is forgotten. Default 100 000. */
  maxSubjects?: number;
  /** Current time in milliseconds (like `Date.now`); injectable for tests. */
  now?: () => number;
}

/**
 * A {@link FailureThrottle} in process memory. After `freeFailures` failures each further
 * one blocks the subject briefly (1 s, 2 s, 4 s... by default); at `maxFailures` within
 * `windowSeconds` it is blocked for `blockSeconds`. A success clears the subject. Nothing
 * is ever revoked. Returned times are seconds, possibly fractional.
 *
 * @example
 * const throttle = memoryFailureThrottle({ maxFailures: 10, windowSeconds: 60, blockSeconds: 300 });
 * const wait = await throttle.blockedFor('addr:203.0.113.7');
 * if (wait > 0) throw new TooManyFailures('blocked', { retryAfter: Math.ceil(wait), limit: 10, windowSeconds: 60 });
 */
export function memoryFailureThrottle(options: MemoryFailureThrottleOptions = {}): MemoryFailureThrottle {
  const p = resolveThrottleOptions(options, 'memoryFailureThrottle');
  const maxSubjects = requirePositiveInteger(
    'memoryFailureThrottle: options.maxSubjects',
    options.maxSubjects ?? 100_000,
  );
  const now = requireClock('memoryFailureThrottle: options.now', options.now ?? Date.now);
  const states = new Map<string, ThrottleState>();

  function isSpent(state: ThrottleState, nowUs: number): boolean {
    return state.blockedUntilUs <= nowUs && state.levelUs <= nowUs - state.updatedUs;
  }

  function recordFailure(subject: string): number {
    checkSubject(subject);
    const nowUs = Math.round(now() * 1000);
    const next = failureStep(states.get(subject), nowUs, p);
    // Re-insert so that Map order is recency order.
    states.delete(subject);
    states.set(subject, next);
    for (const [oldest, state] of states) {
      if (states.size <= maxSubjects && !isSpent(state, nowUs)) break;
      states.delete(oldest);
    }
    return usToSeconds(next.blockedUntilUs - nowUs);
  }

  /** Seconds `subject` is blocked for; `unrecorded` when nothing is recorded for it. */
  function lookupNow(subject: string, unrecorded: number): number {
    checkSubject(subject);
    const state = states.get(subject);
    if (!state) return unrecorded;
    return usToSeconds(state.blockedUntilUs - Math.round(now() * 1000));
  }

  function recordSuccess(subject: string): void {
    checkSubject(subject);
    states.delete(subject);
  }

  // The promise methods are not async functions: the answers are known synchronously, and an async
  // frame per call is garbage. The common answers (0, nothing to clear) are shared settled promises;
  // errors still arrive as rejected promises, never as synchronous throws.
  function lookup(subject: string, unrecorded: number, settledUnrecorded: Promise<number>): Promise<number> {
    let seconds: number;
    try {
      seconds = lookupNow(subject, unrecorded);
    } catch (error) {
      return Promise.reject(error);
    }
    if (seconds === unrecorded) return settledUnrecorded;
    return seconds === 0 ? RESOLVED_ZERO : Promise.resolve(seconds);
  }

  return {
    escalation: p.escalation,
    clock: Object.freeze({ now }),
    blockedFor: (subject) => lookup(subject, 0, RESOLVED_ZERO),
    blockedForOrUnrecorded: (subject) => lookup(subject, -1, RESOLVED_UNRECORDED),
    recordFailure(subject) {
      try {
        return Promise.resolve(recordFailure(subject));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    recordSuccess(subject) {
      try {
        recordSuccess(subject);
      } catch (error) {
        return Promise.reject(error);
      }
      return RESOLVED_UNDEFINED;
    },
    // The same functions without the promises (FailureThrottle's optional capabilities): the
    // middleware uses them when present, so both ways give the same answers and the same state.
    blockedForNow: (subject) => lookupNow(subject, 0),
    blockedForOrUnrecordedNow: (subject) => lookupNow(subject, -1),
    recordFailureNow: recordFailure,
    recordSuccessNow: recordSuccess,
  };
}

const recordFailureLua = luaScript(`
local decay = tonumber(ARGV[1])
local max_failures = tonumber(ARGV[2])
local free_failures = tonumber(ARGV[3])
local slowdown = tonumber(ARGV[4])
local block = tonumber(ARGV[5])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local state = redis.call('HMGET', KEYS[1], 'level', 'updated', 'until')
local level = tonumber(state[1]) or 0
local updated = tonumber(state[2]) or now
local blocked_until = tonumber(state[3]) or 0
level = math.max(0, level - (now - updated)) + decay
local failures = math.ceil(level / decay)
local delay = 0
if failures >= max_failures then
  delay = block
elseif failures > free_failures then
  delay = math.min(slowdown * 2 ^ (failures - free_failures - 1), block)
end
if now + delay > blocked_until then blocked_until = now + delay end
redis.call('HSET', KEYS[1], 'level', string.format('%.0f', level), 'updated', string.format('%.0f', now),
  'until', string.format('%.0f', blocked_until))
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(blocked_until - now, level) / 1000) + 1)
return {blocked_until - now}
`);

// ARGV[1]: the answer when nothing is recorded (0: blockedFor, -1: blockedForOrUnrecorded). The three
// fields are always written together, so a missing 'until' means a missing record.
const blockedForLua = luaScript(`
local blocked_until = tonumber(redis.call('HGET', KEYS[1], 'until'))
if blocked_until == nil then return {tonumber(ARGV[1])} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
return {math.max(0, blocked_until - now)}
`);

/** Options of {@link redisFailureThrottle}. */
export interface RedisFailureThrottleOptions extends RedisBackendOptions, FailureThrottleOptions {}

/**
 * A {@link FailureThrottle} in Redis, shared by every instance: the same escalation as
 * {@link memoryFailureThrottle}, applied by one Lua script per failure (atomic, on
 * Redis's clock). Redis errors and timeouts throw `StoreUnavailable`.
 *
 * @example
 * const throttle = redisFailureThrottle({ client, prefix: 'api:', maxFailures: 10, blockSeconds: 300 });
 * await throttle.recordFailure('key:hk_live_1'); // 0 until the slowdown starts
 */
export function redisFailureThrottle(options: RedisFailureThrottleOptions): ProbingFailureThrottle {
  const backend = resolveRedisBackend(options, 'redisFailureThrottle');
  const p = resolveThrottleOptions(options, 'redisFailureThrottle');
  const keyPrefix = `${backend.prefix}fail:`;
  const args = [p.decayUs, p.maxFailures, p.freeFailures, p.slowdownUs, p.blockUs];
  return {
    escalation: p.escalation,
    async blockedFor(subject) {
      checkSubject(subject);
      const reply = await blockedForLua.run(backend, 'failure lookup', [keyPrefix + subject], [0]);
      return usToSeconds(replyInteger(reply, 0, 'failure lookup'));
    },
    async blockedForOrUnrecorded(subject) {
      checkSubject(subject);
      const reply = await blockedForLua.run(backend, 'failure lookup', [keyPrefix + subject], [-1]);
      const us = replyInteger(reply, 0, 'failure lookup');
      return us === -1 ? -1 : usToSeconds(us);
    },
    async recordFailure(subject) {
      checkSubject(subject);
      const reply = await recordFailureLua.run(backend, 'failure record', [keyPrefix + subject], args);
      return usToSeconds(replyInteger(reply, 0, 'failure record'));
    },
    async recordSuccess(subject) {
      checkSubject(subject);
      await callRedis(backend, 'DEL', () => backend.client.del(keyPrefix + subject));
    },
  };
}
