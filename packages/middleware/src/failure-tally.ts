/**
 * The per-process tally of proven failures that the failure throttle's re-check right before the
 * MAC reads.
 *
 * The gate reads the throttle before a request is verified, and a failure is written to the store
 * only after it, asynchronously (IPC to a supervisor, Redis): the requests of one subject that pass
 * the gate together all reached the MAC before the first of their failures was recorded (100 of 100
 * forged checks pipelined to `serve --workers 2`). Counting a request at the gate would be a side
 * effect before it is proven; a *failure*, once determined, is proven, and is tallied here at that
 * moment, synchronously (the pipeline's `macFailed` hook), before the store write starts. The
 * pipeline's `beforeMac` hook reads {@link FailureTally.blockedFor} right before the MAC, after the
 * key lookup, for a known and an unknown key id alike.
 *
 * The tally is the throttle's own escalation (`memoryFailureThrottle` with the store's options) over
 * this process's proven failures only. Invariant: a request of a subject reaches the MAC only while
 * the tally does not block the subject, and with a synchronous MAC nothing runs between that read
 * and the tally of its own failure; so within one process the requests of a subject that reach the
 * MAC are never more than the throttle lets through one at a time (`freeFailures`, then one per
 * slowdown), however many are in flight together. The store has every failure the tally has (and
 * those of other processes), with the same escalation, recorded no earlier, so a block of the tally
 * never outlasts the store's: the tally refuses nothing the store would not refuse, and a subject
 * without failures (every genuine client, whatever its concurrency) is never refused by it.
 *
 * Why not a count forgotten once the store has recorded the failure: a request whose gate read was
 * answered before some of this process's free failures were recorded, and whose re-check comes after
 * (a key lookup slower than a store round trip), would not see them in the store's answer nor in the
 * tally, and pass. The tally keeps a failure as the store does, until it has drained (`windowSeconds`
 * / `maxFailures` per failure) and any block has run out, which bounds it in time as well as in size.
 *
 * Bounded: at most {@link TALLY_SUBJECTS} subjects (spent ones and the least recently failing out
 * first, as the memory throttle does). Evicting a subject only forgets this process's view of it:
 * the gate still reads the store, and nobody is refused for it.
 */
import type { FailureThrottle } from '@hmac-kit/core';
import { type FailureThrottleOptions, memoryFailureThrottle } from '@hmac-kit/limits';

/** Subjects the tally holds at most. */
export const TALLY_SUBJECTS = 10_000;

/** What the middleware asks of the tally: the memory throttle's synchronous capabilities. */
export interface FailureTally {
  /** Seconds a request of `subject` must not reach the MAC for (0: it may). Reads only. */
  blockedForNow(subject: string): number;
  /** Tallies one proven failure of `subject`, now. */
  recordFailureNow(subject: string): number;
  /** A proven request of `subject` (the (address, key) pair) clears it, as it clears the store. */
  recordSuccessNow(subject: string): void;
}

/** The escalation the tally copies: the throttle's own, when it says (both of @hmac-kit/limits do). */
function escalationOf(throttle: FailureThrottle): FailureThrottleOptions {
  const escalation = throttle.escalation;
  if (escalation === undefined || escalation === null || typeof escalation !== 'object') return {};
  const { maxFailures, windowSeconds, blockSeconds, freeFailures, slowdownSeconds } = escalation;
  return { maxFailures, windowSeconds, blockSeconds, freeFailures, slowdownSeconds };
}

/**
 * The tally for `throttle`: its escalation when it says what it is (a throttle that does not, such
 * as the IPC proxy of `serve --workers`, is taken to have the defaults, which its stores use).
 */
export function createFailureTally(throttle: FailureThrottle, maxSubjects = TALLY_SUBJECTS): FailureTally {
  const clock = clockOf(throttle);
  try {
    return memoryFailureThrottle({ ...escalationOf(throttle), maxSubjects, now: clock });
  } catch {
    // An escalation the memory throttle refuses (a custom throttle's own idea of it): the defaults.
    return memoryFailureThrottle({ maxSubjects, now: clock });
  }
}

/**
 * The throttle's own clock when it has one (the memory throttle's `now` option), else `Date.now`:
 * the tally's blocks must run out when the store's do, or a valid request the store lets through is
 * refused right before the MAC (a fake clock in tests moved past a block).
 */
function clockOf(throttle: FailureThrottle): () => number {
  const clock = throttle.clock;
  if (clock === undefined || clock === null || typeof clock !== 'object') return Date.now;
  const now = clock.now;
  return typeof now === 'function' ? now : Date.now;
}
