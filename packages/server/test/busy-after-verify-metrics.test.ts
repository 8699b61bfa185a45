/**
 * Session 23 (helper fix23): a gateway request that finds the builtin client's queue full only after
 * its verification (it filled while the verification was asynchronous; since fix24 refused before
 * its commit, when it takes its place, instead of at dispatch) is answered 503
 * upstream_busy, nothing sent upstream. It was also observed as `outcome="error"` in
 * `hmac_kit_upstream_request_duration_seconds`, an upstream failure that never happened. Nothing was
 * sent: like the busy refusal before the admission (review21) it is not observed there, only counted
 * as `hmac_kit_upstream_errors_total{kind="busy"}`. Real gateway, real builtin client and upstream;
 * the authenticator is a stand-in whose verification waits on the test (the async window).
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

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

describe('builtin client busy after an asynchronous verification: not an upstream error', () => {
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
    // Over the gateway's 64 KiB buffered bound: committed before its body, sent with request().
    ['with a streamed body', 'x'.repeat(70 * 1024)],
  ])('%s: 503 upstream_busy, counted busy, no upstream duration observed', async (_name, body) => {
    const config = loadConfig({
      flags: { upstream: upstream.url, upstreamClient: 'builtin', maxConnections: 1, database: ':memory:' },
      env: {},
    });
    const metrics = createMetrics();
    let verified!: () => void;
    const verification = new Promise<void>((resolve) => {
      verified = resolve;
    });
    // The late request's verification ends when the test says so: meanwhile the queue fills.
    const { authenticator, admitted, committed } = standInAuthenticator((path) =>
      path === '/late' ? verification : undefined,
    );
    const gateway = createGateway({
      config,
      authenticator,
      metrics,
      isTrustedProxy: () => false,
      upstreamConnections: 1,
    });
    expect(gateway.client).toBe('builtin');
    const { base, close } = await listenGateway(gateway);
    const send = (path: string) =>
      fetch(
        `${base}${path}`,
        body === undefined ? {} : { method: 'POST', body, headers: { 'content-type': 'text/plain' } },
      );
    try {
      upstream.seen.length = 0;
      // Passes the queue check before its admission (empty queue), then waits in its verification.
      const late = send('/late');
      await until(() => admitted.includes('/late'));
      const first = send('/hold');
      await until(() => upstream.held.length === 1);
      const second = send('/queued');
      await until(() => committed.includes('/queued'));
      await new Promise((resolve) => setImmediate(resolve));
      verified();
      const answer = await late;
      expect(answer.status).toBe(503);
      expect(await answer.json()).toMatchObject({ code: 'upstream_busy' });
      // It was verified, then refused before its commit (fix24: no place left for it), nothing sent.
      expect(committed).not.toContain('/late');
      upstream.release();
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
      expect(upstream.seen).toEqual(['/hold', '/queued']);
      const text = await metrics.registry.metrics();
      expect(sample(text, 'hmac_kit_upstream_errors_total{kind="busy"}')).toBe(1);
      // Not an upstream failure: no error (nor timeout, aborted) observation; the two sent are responses.
      expect(sample(text, 'hmac_kit_upstream_request_duration_seconds_count{outcome="error"}') ?? 0).toBe(0);
      expect(sample(text, 'hmac_kit_upstream_request_duration_seconds_count{outcome="timeout"}') ?? 0).toBe(0);
      expect(sample(text, 'hmac_kit_upstream_request_duration_seconds_count{outcome="aborted"}') ?? 0).toBe(0);
      expect(sample(text, 'hmac_kit_upstream_request_duration_seconds_count{outcome="response"}')).toBe(2);
    } finally {
      upstream.release();
      await close();
      await gateway.close();
    }
  });
});
