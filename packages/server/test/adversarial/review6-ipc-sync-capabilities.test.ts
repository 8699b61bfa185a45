/**
 * Review (session 6, perfsync): the memory stores gained synchronous capabilities (`checkAndStoreNow`,
 * `hitNow`, the throttle's `*Now`), and the pipeline and the middleware call them whenever they are
 * present. `hmac-kit serve --workers` without Redis hands each worker IPC proxies of the
 * supervisor's memory stores, built from the list of the stores' methods: that list included the
 * `*Now` capabilities, proxied as functions that answer with a PROMISE. The pipeline read that
 * promise as "fresh" (a replay was accepted on every worker) and the throttle gate compared a
 * promise with 0 (Math.max → NaN: a source was never blocked).
 */
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { type LimitStores, memoryLimitStores, shareLimitStores } from '@hmac-kit/server';
import { describe, expect, it } from 'vitest';
import { resolveKey, signedOrderMessage } from '../../../../test-support/adapter-suite.js';
import { inProcessWorkerStores } from '../../../../test-support/worker-stores.js';

/** One worker of a supervisor, in this process (messages cloned and delivered on a later turn). */
function workerStores(stores: LimitStores): LimitStores {
  return inProcessWorkerStores(shareLimitStores(stores));
}

const signedRequest = signedOrderMessage;

describe('adversarial (review 6): the stores a worker reaches over IPC', () => {
  it('offer no synchronous capability (an IPC call cannot answer without a promise)', () => {
    const worker = workerStores(memoryLimitStores()) as unknown as Record<string, Record<string, unknown>>;
    for (const store of ['nonceStore', 'rateLimiter', 'failureThrottle', 'loginThrottle']) {
      const synchronous = Object.keys(worker[store]!).filter((name) => name.endsWith('Now'));
      expect(synchronous, store).toEqual([]);
    }
  });

  it('refuse a replayed request on a worker', async () => {
    const worker = workerStores(memoryLimitStores());
    const authenticator = createAuthenticator({
      keys: resolveKey,
      crypto: nodeCryptoProvider,
      nonceStore: worker.nonceStore,
    });
    const request = await signedRequest();
    const first = await authenticator.authenticate(request.message, request.body, { sourceAddress: '192.0.2.9' });
    expect(first.ok).toBe(true);
    const replay = await authenticator.authenticate(request.message, request.body, { sourceAddress: '192.0.2.9' });
    expect(replay.ok).toBe(false);
    if (!replay.ok) expect((replay.error as { code?: string }).code).toBe('ERR_NONCE_REPLAYED');
  });

  it('block a source after repeated bad signatures on a worker', async () => {
    const worker = workerStores(memoryLimitStores());
    const authenticator = createAuthenticator({
      keys: resolveKey,
      crypto: nodeCryptoProvider,
      nonceStore: worker.nonceStore,
      failureThrottle: worker.failureThrottle,
    });
    const codes: Array<string | undefined> = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      const forged = await signedRequest(new Uint8Array(32).fill(attempt + 1));
      const outcome = await authenticator.authenticate(forged.message, forged.body, { sourceAddress: '192.0.2.10' });
      codes.push(outcome.ok ? 'accepted' : (outcome.error as { code?: string }).code);
      if (codes.at(-1) === 'ERR_TOO_MANY_FAILURES') break;
    }
    expect(codes).not.toContain('accepted');
    expect(codes.at(-1)).toBe('ERR_TOO_MANY_FAILURES');
  });
});
