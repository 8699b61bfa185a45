/**
 * The supervisor runs a worker's store calls through the stores' synchronous capabilities
 * (`checkAndStoreNow`, `hitNow`, the throttle's `*Now`) and answers a batch in the turn it arrived
 * (shared-stores.ts, `shareLimitStores`). Invariant: for any sequence of calls, the answers (values,
 * and errors by name, code and message) and the state they leave are those of the promise methods
 * called one after another, in order: what the supervisor ran before.
 */

import { memoryFailureThrottle, memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import { type LimitStores, memoryLimitStores, shareLimitStores } from '@hmac-kit/server';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { inProcessWorkerStores } from '../../../test-support/worker-stores.js';
import { memoryConsoleSessionStore } from '../src/console-sessions.js';
import { type StoreResults, storeResultsOf } from '../src/shared-stores.js';

function storesAt(clock: { now: number }): LimitStores {
  const now = () => clock.now;
  return {
    nonceStore: memoryNonceStore({ now, maxEntries: 6 }),
    rateLimiter: memoryRateLimiter({ now }),
    failureThrottle: memoryFailureThrottle({ now, maxSubjects: 4 }),
    loginThrottle: memoryFailureThrottle({ now, maxFailures: 3, freeFailures: 1, blockSeconds: 30 }),
    consoleSessions: memoryConsoleSessionStore({ clock: now }),
  };
}

type Call = { store: keyof LimitStores; method: string; args: unknown[] };

const word = fc.constantFrom('a', 'b', 'c', '');
const subject = fc.constantFrom('addr:192.0.2.1', 'addr:192.0.2.2', 'addr+name:9:192.0.2.1:hk_a', 'k', '');
const call: fc.Arbitrary<Call> = fc.oneof(
  fc
    .tuple(
      word,
      word,
      fc.constantFrom(1, 5, 60, 0, -1),
      fc.option(fc.integer({ min: 0, max: 2e9 }), { nil: undefined }),
    )
    .map(([keyId, nonce, ttl, epoch]) => ({
      store: 'nonceStore' as const,
      method: 'checkAndStore',
      args: epoch === undefined ? [keyId, nonce, ttl] : [keyId, nonce, ttl, epoch],
    })),
  fc
    .tuple(word, word)
    .map(([keyId, nonce]) => ({ store: 'nonceStore' as const, method: 'release', args: [keyId, nonce] })),
  fc.tuple(word, fc.constantFrom(1, 2, 3, 0), fc.constantFrom(1, 5, 60, -1)).map(([key, limit, window]) => ({
    store: 'rateLimiter' as const,
    method: 'hit',
    args: [`key:${key}`, limit, window],
  })),
  fc
    .tuple(
      fc.constantFrom('failureThrottle' as const, 'loginThrottle' as const),
      fc.constantFrom('blockedFor', 'blockedForOrUnrecorded', 'recordFailure', 'recordSuccess'),
      subject,
    )
    .map(([store, method, name]) => ({ store, method, args: [name] })),
  word.map((id) => ({ store: 'consoleSessions' as const, method: 'peek', args: [id] })),
);

/** What the promise method answered: its value, or its error as the worker rebuilds it. */
async function general(stores: LimitStores, { store, method, args }: Call): Promise<unknown> {
  const target = stores[store] as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  try {
    return { value: await target[method]!(...args) };
  } catch (error) {
    const { name, code, message } = error as Error & { code?: string };
    return { error: { name, code, message } };
  }
}

describe('shareLimitStores: the synchronous way through a batch', () => {
  it('answers every batch as the promise methods, called in order, would', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40_000 }), fc.array(call, { maxLength: 8 })), { maxLength: 8 }),
        async (batches) => {
          const clock = { now: 1_800_000_000_000 };
          const shared = shareLimitStores(storesAt(clock));
          const reference = storesAt(clock);
          let id = 0;
          for (const [advance, calls] of batches) {
            clock.now += advance;
            const expected: unknown[] = [];
            for (const each of calls) expected.push(await general(reference, each));
            const numbered = calls.map((each) => ({ id: id++, ...each }));
            let sync: unknown;
            const answered = new Promise<StoreResults>((resolve) => {
              const handled = shared.handle({ hk: 'store-calls', calls: numbered }, (results) => {
                sync = results;
                resolve(results);
              });
              expect(handled).toBe(true);
            });
            // A batch of calls with synchronous capabilities (all but release and the console's) is
            // answered in the turn it arrived.
            if (calls.every((each) => each.method !== 'release' && each.store !== 'consoleSessions')) {
              expect(sync).toBeDefined();
            }
            // Through the channel's structured clone, as a worker receives it.
            const results = storeResultsOf(structuredClone(await answered)).sort((a, b) => a.id - b.id);
            expect(results.map((result) => result.id)).toEqual(numbered.map((each) => each.id));
            expect(results.map(({ id: _, ...rest }) => rest)).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('answers a worker, compact wire and all, as the promise methods would (values through a structured clone)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40_000 }), fc.array(call, { maxLength: 8 })), { maxLength: 6 }),
        async (batches) => {
          const clock = { now: 1_800_000_000_000 };
          const shared = shareLimitStores(storesAt(clock));
          const reference = storesAt(clock);
          const worker = inProcessWorkerStores(shared);
          for (const [advance, calls] of batches) {
            clock.now += advance;
            const expected: unknown[] = [];
            for (const each of calls) expected.push(await general(reference, each));
            // One turn's calls: one batch.
            const answers = await Promise.all(calls.map((each) => general(worker, each)));
            expect(answers).toEqual(expected);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses compact calls that name no store method, as it refuses such object calls', () => {
    const shared = shareLimitStores(memoryLimitStores());
    const replies: StoreResults[] = [];
    const compact = JSON.stringify([
      1,
      0,
      'constructor',
      [],
      2,
      1,
      'hitNow',
      ['key:x', 1, 1],
      3,
      0,
      'checkAndStore',
      'not a list',
      4,
      99,
      'checkAndStore',
      ['hk_a', 'n', 60],
      '5',
      0,
      'checkAndStore',
      ['hk_a', 'n', 60],
      6,
      0,
      'checkAndStore',
      ['hk_a', 'n', 60],
      7,
      0,
      'checkAndStore',
      ['hk_a', 'n', 60],
      8,
      0,
    ]);
    expect(shared.handle({ hk: 'store-calls', calls: [], json: compact }, (reply) => replies.push(reply))).toBe(true);
    const answers = storeResultsOf(replies[0]!);
    const byId = new Map(answers.map((answer) => [answer.id, 'error' in answer ? answer.error.name : answer.value]));
    expect(Object.fromEntries(byId)).toEqual({
      1: 'TypeError',
      2: 'TypeError',
      3: 'TypeError',
      4: 'TypeError',
      [-1]: 'TypeError',
      6: true,
      7: false,
      8: 'TypeError',
    });
    // Not JSON, or not a list: nothing to run, and no id to answer.
    for (const json of ['[1, 0, "checkAndStore"', '{"calls": 1}', '7']) {
      const before = replies.length;
      shared.handle({ hk: 'store-calls', calls: [], json }, (reply) => replies.push(reply));
      expect(replies.length).toBe(before + 1);
      expect(storeResultsOf(replies.at(-1)!)).toEqual([]);
    }
  });

  it('waits for a store that answers with a promise, keeping the order of the calls', async () => {
    const clock = { now: 1_800_000_000_000 };
    const stores = storesAt(clock);
    const order: string[] = [];
    const slow = {
      ...stores.consoleSessions,
      peek: (id: string) => {
        order.push(`peek ${id}`);
        return new Promise((resolve) => setImmediate(() => resolve(undefined)));
      },
    };
    const nonce = stores.nonceStore as unknown as { checkAndStoreNow: (...args: unknown[]) => boolean };
    const checkAndStoreNow = nonce.checkAndStoreNow;
    nonce.checkAndStoreNow = (...args: unknown[]) => {
      order.push(`nonce ${String(args[1])}`);
      return checkAndStoreNow(...args);
    };
    const shared = shareLimitStores({ ...stores, consoleSessions: slow as LimitStores['consoleSessions'] });
    const replies: unknown[] = [];
    shared.handle(
      {
        hk: 'store-calls',
        calls: [
          { id: 1, store: 'nonceStore', method: 'checkAndStore', args: ['hk_a', 'n-1', 60] },
          { id: 2, store: 'consoleSessions', method: 'peek', args: ['s'] },
          { id: 3, store: 'nonceStore', method: 'checkAndStore', args: ['hk_a', 'n-1', 60] },
        ],
      },
      (reply) => replies.push(reply),
    );
    expect(order).toEqual(['nonce n-1', 'peek s', 'nonce n-1']);
    expect(replies).toHaveLength(0);
    await vi.waitFor(() => expect(replies).toHaveLength(1));
    expect(storeResultsOf(replies[0] as StoreResults).sort((a, b) => a.id - b.id)).toEqual([
      { id: 1, value: true },
      { id: 2, value: undefined },
      { id: 3, value: false },
    ]);
  });
});
