/**
 * The memory nonce store's ring of expiries is copied by blocks when it grows or shrinks (issue
 * #15, session 23: the run from the head to the end of the old ring, then the run that wrapped to
 * its start). Whatever the head's position, every record must still expire when its time comes:
 * a record whose queue entry was copied to the wrong place would never be forgotten and would hold
 * the store's capacity for ever (refusing fresh nonces as full). Checked against the capacity: once
 * the clock passes every expiry, the whole of `maxEntries` is free again.
 */
import { memoryNonceStore } from '@hmac-kit/limits';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const TTL_SECONDS = 10;

/** Records `count` fresh nonces at the store's current time: all must be accepted. */
function record(store: ReturnType<typeof memoryNonceStore>, prefix: string, count: number): void {
  for (let index = 0; index < count; index++) {
    expect(store.checkAndStoreNow('k', `${prefix}-${index}`, TTL_SECONDS)).toBe(true);
  }
}

describe('memory nonce store: the ring resized with its head anywhere (issue #15, session 23)', () => {
  it('grows a wrapped ring, then frees every record at its expiry', () => {
    let now = 1_000_000;
    const maxEntries = 400;
    const store = memoryNonceStore({ maxEntries, now: () => now });
    record(store, 'a', 100);
    // 90 of them expire: the ring's head moves to 90 (of 128).
    now += 1;
    record(store, 'b', 0);
    now += TTL_SECONDS * 1000 - 1;
    expect(store.checkAndStoreNow('k', 'c-0', TTL_SECONDS)).toBe(true);
    // Fill the ring past its end (wrapping to its start), then past its size (the growth).
    now += 1;
    record(store, 'd', 200);
    now += TTL_SECONDS * 1000 * 3;
    // Every record expired: the whole capacity is free, and the ring shrinks back.
    record(store, 'e', maxEntries);
    now += TTL_SECONDS * 1000 * 3;
    record(store, 'f', maxEntries);
  });

  it('any rhythm of records and clock steps: past every expiry, the whole capacity is free (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 12_000 })), {
          minLength: 1,
          maxLength: 12,
        }),
        (steps) => {
          let now = 5_000_000;
          const maxEntries = 1000;
          const store = memoryNonceStore({ maxEntries, now: () => now });
          let step = 0;
          for (const [count, advance] of steps) {
            // Never more than the capacity within one window: every record is accepted.
            record(store, `s${step++}`, Math.min(count, 80));
            now += advance;
          }
          now += TTL_SECONDS * 1000 + 1;
          record(store, 'all', maxEntries);
        },
      ),
      { numRuns: 150 },
    );
  });
});
