/**
 * Review of session 21 (helper "review21"): the builtin client's bounded queue answers one request
 * over it `503 upstream_busy` with `Retry-After: 1`. It was refused only at dispatch, after the
 * request had been verified and committed: its nonce recorded (so the retry that Retry-After
 * invites, the same signed request, is refused `nonce_replayed`), its rate limit charged, its MAC
 * computed (the CPU of a gateway that is already overloaded). A request that arrives while the
 * queue is full is now refused before its admission: nothing verified, nothing charged. (One that
 * finds it full only after an asynchronous verification is refused before its commit, nothing
 * charged either: fix24-busy-after-commit.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../test-support/wait.js';
import { loadConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { createMetrics } from '../src/metrics.js';
import {
  type HoldingUpstream,
  listenGateway,
  standInAuthenticator,
  startHoldingUpstream,
} from './support/holding-upstream.js';

describe('review21: a request that finds the builtin queue full is refused before anything is charged', () => {
  let upstream: HoldingUpstream;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it.each([
    ['without a body', undefined],
    ['with a small body', 'x'.repeat(100)],
  ])('%s: 503 upstream_busy, not admitted, not committed', async (_name, body) => {
    const config = loadConfig({
      flags: { upstream: upstream.url, upstreamClient: 'builtin', maxConnections: 1, database: ':memory:' },
      env: {},
    });
    const metrics = createMetrics();
    // Its commit is where a real authenticator charges the nonce and the rate limit.
    const { authenticator, admitted, committed } = standInAuthenticator();
    const gateway = createGateway({
      config,
      authenticator,
      metrics,
      isTrustedProxy: () => false,
      upstreamConnections: 1,
    });
    expect(gateway.client).toBe('builtin');
    const { base, contexts, close } = await listenGateway(gateway);
    const send = (path: string) =>
      fetch(
        `${base}${path}`,
        body === undefined ? {} : { method: 'POST', body, headers: { 'content-type': 'text/plain' } },
      );
    try {
      upstream.seen.length = 0;
      const first = send('/hold');
      await until(() => upstream.held.length === 1);
      const second = send('/queued');
      await until(() => committed.includes('/queued'));
      // Let the second's dispatch run (it queues in the turn it was committed).
      await new Promise((resolve) => setImmediate(resolve));
      const third = await send('/over');
      expect(third.status).toBe(503);
      expect(third.headers.get('retry-after')).toBe('1');
      expect(await third.json()).toMatchObject({ status: 503, code: 'upstream_busy' });
      // Nothing verified or charged for it: its client may send the same signed request again.
      expect(admitted).not.toContain('/over');
      expect(committed).not.toContain('/over');
      expect(contexts[2]?.code).toBe('upstream_busy');
      upstream.release();
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
      expect(upstream.seen).toEqual(['/hold', '/queued']);
    } finally {
      upstream.release();
      await close();
      await gateway.close();
    }
  });
});
