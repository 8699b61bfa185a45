/**
 * Review of the check-phase batches (f2506a8): an app's tests that fake the clock (vitest's and
 * jest's fake timers fake `setImmediate` by default), as one does to test signature expiry, with
 * `app.inject()` (light-my-request). Before the fix, a request verified while `setImmediate` was
 * fake waited for the test to advance the timers (the unsigned inject below: 'hung'; it answered in
 * a microtask before the batches), and once the fake timers were uninstalled with that batch
 * pending, the queue stayed non-empty and never scheduled again: every later request of every app
 * in the process hung (the signed inject after `useRealTimers()`: 'hung'). (A 200 under a fake
 * `setImmediate` hangs in light-my-request itself, batches or not: its null socket's writes call
 * back in a `setImmediate`.)
 */
import { hmacAuth } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

const realTimeout = setTimeout;
const realClearTimeout = clearTimeout;
/** `promise`'s value, or 'hung' after `ms` of real time: a hang detector, far above a loaded machine's stalls. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'hung'> {
  let bound: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    bound = realTimeout(() => resolve('hung'), ms);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    realClearTimeout(bound);
  }
}

describe('review-batch: fake timers and app.inject()', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers under fake timers never advanced, and every request after they are uninstalled', async () => {
    const app = Fastify();
    await app.register(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.get('/whoami', async (request) => ({ keyId: request.hmac?.keyId }));
    await app.ready();
    const origin = 'http://localhost:80';
    const request = () => signed(origin, { method: 'GET', path: '/whoami', headers: {} }, signingKey(keyRing.reader));
    const inject = async () => {
      const { headers } = await request();
      const answer = await app.inject({ method: 'GET', url: '/whoami', headers: { ...headers, host: 'localhost:80' } });
      return { status: answer.statusCode, keyId: answer.json().keyId };
    };
    vi.useFakeTimers({ now: Date.now() });
    // Refused (unsigned), under fake timers that the test never advances.
    expect(
      await within(
        app.inject({ method: 'GET', url: '/whoami' }).then((a) => a.statusCode),
        20_000,
      ),
    ).toBe(401);
    vi.useRealTimers();
    expect(await within(inject(), 20_000)).toEqual({ status: 200, keyId: keyRing.reader.keyId });
    await app.close();
  });
});
