/**
 * Review (session 6, perfsync): the pipeline and the middleware take a store's synchronous
 * capability (`checkAndStoreNow`, the throttle's `*Now`) at its word. A store whose `*Now` answers
 * with a promise anyway (an RPC proxy built from the list of a memory store's methods, an `async`
 * implementation) must not turn into "nonce fresh" or "source not blocked"; a synchronous throw of
 * a store is the same fail-closed refusal as a rejection.
 */
import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import {
  promisingNonceStore,
  promisingThrottle,
  resolveKey,
  signedOrderMessage,
} from '../../../../test-support/adapter-suite.js';

const signedRequest = signedOrderMessage;

describe('adversarial (review 6): synchronous capabilities that answer with promises', () => {
  for (const eagerly of [false, true]) {
    const way = eagerly ? 'authenticateEagerly' : 'authenticate';

    it(`a replay is refused when checkAndStoreNow answers with a promise (${way})`, async () => {
      const authenticator = createAuthenticator({
        keys: resolveKey,
        crypto: nodeCryptoProvider,
        nonceStore: promisingNonceStore(),
      });
      const request = await signedRequest();
      const send = () =>
        eagerly
          ? authenticator.authenticateEagerly(request.message, request.body, { sourceAddress: '192.0.2.20' })
          : authenticator.authenticate(request.message, request.body, { sourceAddress: '192.0.2.20' });
      expect((await send()).ok).toBe(true);
      const replay = await send();
      expect(replay.ok).toBe(false);
      if (!replay.ok) expect((replay.error as { code?: string }).code).toBe('ERR_NONCE_REPLAYED');
    });

    it(`a source is blocked when the throttle's *Now answer with promises (${way})`, async () => {
      const authenticator = createAuthenticator({
        keys: resolveKey,
        crypto: nodeCryptoProvider,
        nonceStore: memoryNonceStore(),
        failureThrottle: promisingThrottle(),
      });
      const codes: Array<string | undefined> = [];
      for (let attempt = 0; attempt < 30 && codes.at(-1) !== 'ERR_TOO_MANY_FAILURES'; attempt++) {
        const forged = await signedRequest(new Uint8Array(32).fill(attempt + 1));
        const outcome = await (eagerly
          ? authenticator.authenticateEagerly(forged.message, forged.body, { sourceAddress: '192.0.2.21' })
          : authenticator.authenticate(forged.message, forged.body, { sourceAddress: '192.0.2.21' }));
        codes.push(outcome.ok ? 'accepted' : (outcome.error as { code?: string }).code);
      }
      expect(codes).not.toContain('accepted');
      expect(codes.at(-1)).toBe('ERR_TOO_MANY_FAILURES');
    });

    it(`a checkAndStoreNow that throws refuses the request, nonce unrecorded, no throw escapes (${way})`, async () => {
      const memory = memoryNonceStore();
      let calls = 0;
      const failing: NonceStore = {
        epoch: memory.epoch,
        checkAndStore: () => Promise.reject(new StoreUnavailable('down')),
        checkAndStoreNow: () => {
          calls++;
          throw new StoreUnavailable('down');
        },
      };
      const authenticator = createAuthenticator({ keys: resolveKey, crypto: nodeCryptoProvider, nonceStore: failing });
      const request = await signedRequest();
      let outcome: Awaited<ReturnType<typeof authenticator.authenticate>> | undefined;
      expect(() => {
        const answer = eagerly
          ? authenticator.authenticateEagerly(request.message, request.body, { sourceAddress: '192.0.2.22' })
          : authenticator.authenticate(request.message, request.body, { sourceAddress: '192.0.2.22' });
        void Promise.resolve(answer).then((value) => {
          outcome = value;
        });
      }).not.toThrow();
      await expect.poll(() => outcome).toBeDefined();
      expect(calls).toBe(1);
      expect(outcome!.ok).toBe(false);
      if (!outcome!.ok) expect((outcome!.error as { code?: string }).code).toBe('ERR_STORE_UNAVAILABLE');
    });
  }
});
