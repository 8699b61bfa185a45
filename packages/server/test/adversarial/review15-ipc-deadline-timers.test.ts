/**
 * `serve --workers`: the deadline of a worker's batch of store calls (session 15). Every batch
 * armed an unref'd timer for the whole deadline (1 s) and never cleared it when the supervisor
 * answered, so a busy worker held one live timer per batch of the last second (thousands under
 * load). The timers are counted here with an async hook (a Timeout resource lives from its init
 * until it fires or is cleared), told apart from vitest's own by their unusual duration.
 */
import { createHook } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryLimitStores, shareLimitStores, supervisorLimitStores } from '@hmac-kit/server';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';

/** Deadlines no other timer of the test process has. */
const DEADLINE_MS = 987_654;
const SHORT_DEADLINE_MS = 57;

const live = new Set<number>();
const hook = createHook({
  init(asyncId, type, _trigger, resource) {
    const duration = (resource as { _idleTimeout?: number })._idleTimeout;
    if (type === 'Timeout' && (duration === DEADLINE_MS || duration === SHORT_DEADLINE_MS)) live.add(asyncId);
  },
  destroy(asyncId) {
    live.delete(asyncId);
  },
}).enable();
afterAll(() => {
  hook.disable();
});
beforeEach(() => {
  live.clear();
});

/** A worker's stores whose supervisor answers every batch on a later turn, or never (`answering` false). */
function worker(answering: boolean, timeoutMs: number) {
  const shared = shareLimitStores(memoryLimitStores());
  const channel = Object.assign(new EventEmitter(), {
    send(message: unknown, callback: (error: Error | null) => void) {
      const copy = structuredClone(message);
      setImmediate(() => {
        callback(null);
        if (!answering) return;
        shared.handle(copy, (reply) => setImmediate(() => channel.emit('message', structuredClone(reply))));
      });
      return true;
    },
  });
  return supervisorLimitStores(channel, structuredClone(shared.description), timeoutMs);
}

describe('adversarial (review 15): the deadline timers of a worker`s store calls', () => {
  it('clears a batch`s deadline once the supervisor has answered all of its calls', async () => {
    const stores = worker(true, DEADLINE_MS);
    for (let batch = 0; batch < 200; batch++) {
      // Two calls per batch (one turn): the timer goes when the last of them is answered.
      const [hit, seen] = await Promise.all([
        stores.rateLimiter.hit('key:hk_a', 1_000, 60),
        stores.nonceStore.checkAndStore('hk_a', `nonce-${batch}`, 60),
      ]);
      expect(hit).toMatchObject({ allowed: true });
      expect(seen).toBe(true);
    }
    // Destroy hooks run on a later tick than the clearTimeout: wait for the set to drain, as a bound.
    await new Promise((resolve) => setImmediate(resolve));
    expect(live.size).toBe(0);
  });

  it('still fails the calls of a batch closed (StoreUnavailable) when the supervisor never answers', async () => {
    const stores = worker(false, SHORT_DEADLINE_MS);
    const calls = [
      stores.nonceStore.checkAndStore('hk_b', 'never-answered', 60),
      stores.rateLimiter.hit('key:hk_b', 5, 60),
    ];
    for (const call of calls) {
      await expect(call).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(call).rejects.toThrow(`supervisor did not answer within ${SHORT_DEADLINE_MS} ms`);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(live.size).toBe(0);
  });
});
