import { randomUUID } from 'node:crypto';
import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { sleep } from '../services.js';

/** How a backend under test is built. */
export interface NonceStoreHarness {
  create(): NonceStore | Promise<NonceStore>;
  /** A fresh instance reading the time (ms, like `Date.now`) from `now`, when the backend's clock is injectable. */
  createWithClock?(now: () => number): NonceStore | Promise<NonceStore>;
  /** Another instance sharing the same state (e.g. a second Redis connection), when the backend is shared. */
  createSecondInstance?(): NonceStore | Promise<NonceStore>;
  /**
   * The backend loses every record (Redis restarted without persistence, a process restarted):
   * resolves the store a running service then uses (the same object for Redis, a new one for memory).
   */
  afterLoss?(store: NonceStore): Promise<NonceStore>;
}

/** Waits (without a fixed sleep) until the wall clock is in a later whole second than `second`. */
async function nextSecond(second: number): Promise<void> {
  while (Math.floor(Date.now() / 1000) <= second) await sleep(20);
}

const unique = (label: string) => `${label}-${randomUUID()}`;

/**
 * Resolves once `record` (a nonce recorded with a short time to live) is forgotten, polling with
 * `checkAndStore` (a refused check records nothing): the positive sign that every record made no
 * later with no longer a time to live has expired too, on the backend's own clock.
 */
async function untilForgotten(store: NonceStore, keyId: string, record: string): Promise<void> {
  while (!(await store.checkAndStore(keyId, record, 60))) await sleep(10);
}

/** The behaviour every {@link NonceStore} must have. */
export function describeNonceStoreConformance(name: string, harness: NonceStoreHarness): void {
  describe(`NonceStore conformance: ${name}`, () => {
    it('accepts a nonce once and refuses it again within the window', async () => {
      const store = await harness.create();
      const keyId = unique('key');
      const nonce = unique('nonce');
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(true);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
    });

    it('scopes nonces to the key id', async () => {
      const store = await harness.create();
      const nonce = unique('nonce');
      expect(await store.checkAndStore(unique('key-a'), nonce, 60)).toBe(true);
      expect(await store.checkAndStore(unique('key-b'), nonce, 60)).toBe(true);
    });

    it('never confuses (key id, nonce) pairs that concatenate alike', async () => {
      const store = await harness.create();
      const base = unique('k');
      expect(await store.checkAndStore(`${base}:a`, 'b', 60)).toBe(true);
      expect(await store.checkAndStore(base, 'a:b', 60)).toBe(true);
      expect(await store.checkAndStore(`${base}:a:b`, '', 60)).toBe(true);
      expect(await store.checkAndStore(`${base}:a`, 'b', 60)).toBe(false);
    });

    it('forgets a nonce once its time to live has passed', async () => {
      const keyId = unique('key');
      const nonce = unique('nonce');
      if (harness.createWithClock) {
        // A clock the test moves: forgotten exactly at the end of the time to live, not sooner.
        let time = 1_700_000_000_000;
        const store = await harness.createWithClock(() => time);
        expect(await store.checkAndStore(keyId, nonce, 0.1)).toBe(true);
        time += 99;
        expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
        time += 1;
        expect(await store.checkAndStore(keyId, nonce, 60)).toBe(true);
        expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
        return;
      }
      const store = await harness.create();
      expect(await store.checkAndStore(keyId, nonce, 0.1)).toBe(true);
      // Recorded after the short one with a long time to live: it must still be there afterwards
      // (so the short record went by its own time to live, not with everything else).
      const longLived = unique('long-lived');
      expect(await store.checkAndStore(keyId, longLived, 60)).toBe(true);
      // Waited for (the test timeout is the hang detector), never assumed after a fixed time.
      await untilForgotten(store, keyId, nonce);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
      expect(await store.checkAndStore(keyId, longLived, 60)).toBe(false);
    });

    it('accepts exactly one of 50 concurrent uses of the same nonce', async () => {
      const store = await harness.create();
      const keyId = unique('key');
      const nonce = unique('nonce');
      const results = await Promise.all(Array.from({ length: 50 }, () => store.checkAndStore(keyId, nonce, 60)));
      expect(results.filter((accepted) => accepted)).toHaveLength(1);
    });

    it('accepts many distinct concurrent nonces', async () => {
      const store = await harness.create();
      const keyId = unique('key');
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, index) => store.checkAndStore(keyId, `n-${index}`, 60)),
      );
      expect(results.every((accepted) => accepted)).toBe(true);
    });

    it('refuses malformed arguments with TypeError', async () => {
      const store = await harness.create();
      await expect(store.checkAndStore('key', 'nonce', 0)).rejects.toThrow(TypeError);
      await expect(store.checkAndStore('key', 'nonce', Number.NaN)).rejects.toThrow(TypeError);
      await expect(store.checkAndStore(42 as unknown as string, 'nonce', 60)).rejects.toThrow(TypeError);
    });

    it('has an epoch: a whole second no later than now, stable while nothing is lost', async () => {
      const store = await harness.create();
      expect(store.epoch).toBeTypeOf('function');
      const epoch = await store.epoch!();
      expect(Number.isInteger(epoch)).toBe(true);
      expect(epoch).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
      expect(await store.checkAndStore(unique('key'), unique('nonce'), 60, epoch)).toBe(true);
      expect(await store.epoch!()).toBe(epoch);
    });

    it('releases a reservation so that the same nonce can be recorded again, once', async () => {
      const store = await harness.create();
      expect(store.release).toBeTypeOf('function');
      const keyId = unique('key');
      const nonce = unique('nonce');
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(true);
      await store.release!(keyId, nonce);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(true);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
      // Releasing what was never recorded changes nothing.
      await store.release!(keyId, unique('never-recorded'));
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
      await expect(store.release!(42 as unknown as string, nonce)).rejects.toThrow(TypeError);
    });

    it('never lets a released short reservation shorten the record made after it', async () => {
      const store = await harness.create();
      const keyId = unique('key');
      const nonce = unique('nonce');
      expect(await store.checkAndStore(keyId, nonce, 0.1)).toBe(true);
      // Recorded just after the first record with the same time to live: once it is forgotten, the
      // first record would have expired too.
      const witness = unique('witness');
      expect(await store.checkAndStore(keyId, witness, 0.1)).toBe(true);
      await store.release!(keyId, nonce);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(true);
      await untilForgotten(store, keyId, witness);
      // The first (released) record would have expired by now: the second must still hold.
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
      expect(await store.checkAndStore(keyId, nonce, 60)).toBe(false);
    });

    if (harness.afterLoss) {
      const afterLoss = harness.afterLoss;
      it('after losing its records starts a new epoch and records nothing against the old one', async () => {
        const store = await harness.create();
        const keyId = unique('key');
        const nonce = unique('nonce');
        const before = await store.epoch!();
        expect(await store.checkAndStore(keyId, nonce, 60, before)).toBe(true);
        await nextSecond(before);
        const lost = await afterLoss(store);
        // A request checked against the old epoch (signed before the loss) is never recorded as new.
        const replay = (async () => lost.checkAndStore(keyId, nonce, 60, before))();
        await expect(replay).rejects.toBeInstanceOf(StoreUnavailable);
        const after = await lost.epoch!();
        expect(after).toBeGreaterThan(before);
        expect(after).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
        // Checked against the new epoch (the verifier refuses what was signed before it), it is recorded.
        expect(await lost.checkAndStore(keyId, nonce, 60, after)).toBe(true);
        expect(await lost.checkAndStore(keyId, nonce, 60, after)).toBe(false);
      });
    }

    if (harness.createSecondInstance) {
      const createSecond = harness.createSecondInstance;
      it('lets exactly one of two instances accept the same nonce', async () => {
        const first = await harness.create();
        const second = await createSecond();
        const keyId = unique('key');
        for (let round = 0; round < 20; round++) {
          const nonce = unique(`nonce-${round}`);
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, index) =>
              (index % 2 === 0 ? first : second).checkAndStore(keyId, nonce, 60),
            ),
          );
          expect(results.filter((accepted) => accepted)).toHaveLength(1);
        }
      });
    }
  });
}
