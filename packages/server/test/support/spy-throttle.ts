import type { FailureThrottle } from '@hmac-kit/core';
import { memoryFailureThrottle } from '@hmac-kit/limits';

/**
 * The memory failure throttle, recording every write as `failure <subject>` / `success <subject>`,
 * for tests that check no side effect happened before a request was proven.
 *
 * @example
 * ```ts
 * const spy = spyThrottle();
 * const server = await startInProcess({}, {}, { limitStores: { ...memoryLimitStores(), failureThrottle: spy.throttle } });
 * expect(spy.writes.filter((write) => write.startsWith('success'))).toEqual([]);
 * ```
 */
export function spyThrottle(): { throttle: FailureThrottle; writes: string[] } {
  const memory = memoryFailureThrottle();
  const writes: string[] = [];
  const throttle = {
    escalation: memory.escalation,
    clock: memory.clock,
    blockedFor: (subject: string) => memory.blockedFor(subject),
    blockedForNow: (subject: string) => memory.blockedForNow(subject),
    blockedForOrUnrecorded: (subject: string) => memory.blockedForOrUnrecorded(subject),
    blockedForOrUnrecordedNow: (subject: string) => memory.blockedForOrUnrecordedNow(subject),
    recordFailure: (subject: string) => {
      writes.push(`failure ${subject}`);
      return memory.recordFailure(subject);
    },
    recordFailureNow: (subject: string) => {
      writes.push(`failure ${subject}`);
      return memory.recordFailureNow(subject);
    },
    recordSuccess: (subject: string) => {
      writes.push(`success ${subject}`);
      return memory.recordSuccess(subject);
    },
    recordSuccessNow: (subject: string) => {
      writes.push(`success ${subject}`);
      memory.recordSuccessNow(subject);
    },
  };
  return { throttle, writes };
}
