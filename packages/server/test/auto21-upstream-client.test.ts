/**
 * Session 21 (helper "auto21"): the builtin upstream client as the default (`--upstream-client
 * auto`), and the two gaps second19 noted before it could be:
 *
 * - the choice: `auto` takes builtin for a plain-http upstream without tracing when node's internal
 *   parser passes its start-up self-test, undici otherwise (one warning line when the parser is
 *   unfit); an explicit `builtin` on an unfit parser refuses to start with one line; `undici` stays;
 * - the builtin client's queue of requests waiting for a connection was unbounded: now bounded,
 *   a request over it refused at once (`503 upstream_busy` at the gateway, nothing sent); undici's
 *   Pool still queues it (the comparison is a test too);
 * - the builtin client's `close()` resolved at once: now, as undici's, it lets the requests in
 *   flight and queued finish and resolves after the last.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until, untilValue } from '../../../test-support/wait.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { createMetrics } from '../src/metrics.js';
import { chooseUpstreamClient } from '../src/upstream/choose.js';
import { createBuiltinClient } from '../src/upstream/client.js';
import { UpstreamBusyError } from '../src/upstream/errors.js';
import { HttpParserUnfitError, type NodeHttpParserClass } from '../src/upstream/http-parser.js';
import type { UpstreamClient } from '../src/upstream/types.js';
import { type HoldingUpstream, listenGateway, startHoldingUpstream } from './support/holding-upstream.js';
import { startInProcess } from './support/in-process.js';
import { memoryLog as capture } from './support/memory-log.js';

const Real = createRequire(import.meta.url)('_http_common').HTTPParser as NodeHttpParserClass;

/** This Node's parser, but its kOnHeadersComplete callback gets its arguments one place off: fails the self-test. */
function brokenParser(): NodeHttpParserClass {
  const stored = Symbol('callback');
  class Broken extends (Real as unknown as new () => object) {}
  for (const key of Object.keys(Real))
    (Broken as unknown as Record<string, unknown>)[key] = (Real as unknown as Record<string, unknown>)[key];
  Object.defineProperty(Broken.prototype, Real.kOnHeadersComplete, {
    get(this: Record<symbol, (...args: unknown[]) => unknown>) {
      const callback = this[stored];
      return callback === undefined ? undefined : (...args: unknown[]) => callback(...args.slice(1));
    },
    set(this: Record<symbol, unknown>, callback: unknown) {
      this[stored] = callback;
    },
  });
  return Broken as unknown as NodeHttpParserClass;
}

type Outcome = { status: number; body: string } | { error: Error };

/** One GET through `client.request()` (the same call for undici's Pool and the builtin client), read to its end. */
async function get(client: UpstreamClient, origin: string, path: string): Promise<Outcome> {
  try {
    const answer = await client.request({
      origin,
      path,
      method: 'GET',
      headers: [],
      body: null,
      signal: new EventEmitter(),
    });
    let body = '';
    for await (const chunk of answer.body) body += String(chunk);
    return { status: answer.statusCode, body };
  } catch (error) {
    return { error: error as Error };
  }
}

function makeClient(kind: 'undici' | 'builtin', origin: string, maxQueued?: number): UpstreamClient {
  return kind === 'builtin'
    ? createBuiltinClient(origin, { timeoutMs: 30_000, connections: 1, ...(maxQueued ? { maxQueued } : {}) })
    : (new Pool(origin, { connections: 1, pipelining: 1 }) as unknown as UpstreamClient);
}

describe('auto21: which client --upstream-client auto runs', () => {
  const http = 'http://orders:3000';
  it('auto: builtin for a plain-http upstream without tracing (this Node passes the self-test)', () => {
    expect(chooseUpstreamClient('auto', http, { traced: false }).client).toBe('builtin');
  });
  it('auto: undici for an https upstream (no TLS session reuse in builtin) and with tracing (not instrumented)', () => {
    expect(chooseUpstreamClient('auto', 'https://orders', { traced: false })).toEqual({
      client: 'undici',
      because: 'https',
    });
    expect(chooseUpstreamClient('auto', http, { traced: true })).toEqual({ client: 'undici', because: 'tracing' });
  });
  it.each([
    ['a parser whose kOnHeadersComplete arguments moved', brokenParser()],
    ['no parser (a missing export)', undefined],
    ['something else', class {}],
  ])('auto with %s: undici, with what was wrong; explicit builtin: refused', (_what, candidate) => {
    const choice = chooseUpstreamClient('auto', http, { traced: false, parserCandidate: candidate });
    expect(choice).toMatchObject({ client: 'undici', because: 'parser' });
    expect(choice.client === 'undici' && choice.detail).toMatch(/internal HTTP parser/);
    expect(() => chooseUpstreamClient('builtin', http, { traced: false, parserCandidate: candidate })).toThrow(
      HttpParserUnfitError,
    );
  });
  it('undici stays undici, whatever the parser', () => {
    expect(chooseUpstreamClient('undici', http, { traced: false, parserCandidate: undefined })).toEqual({
      client: 'undici',
    });
  });
  it('the default setting is auto; builtin with tracing is still refused at config load', () => {
    expect(loadConfig({ flags: { upstream: http, masterKeys: 'x' }, env: {} }).upstreamClient).toBe('auto');
    expect(() =>
      loadConfig({
        flags: { upstream: http, upstreamClient: 'builtin' },
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      }),
    ).toThrow(/not traced/);
    expect(() => loadConfig({ flags: { upstream: http, upstreamClient: 'fast' }, env: {} })).toThrow(
      /expected auto, undici or builtin/,
    );
  });
});

describe('auto21: start-up with the self-test', () => {
  let upstream: HoldingUpstream;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('default (auto): the listening line names builtin, no warning', async () => {
    const { logger, lines } = capture();
    const server = await startInProcess({ upstream: upstream.url, upstreamClient: 'auto' }, {}, { logger });
    try {
      const listening = await untilValue(() => lines().find((line) => line.msg === 'listening'), 'listening');
      expect(listening.upstreamClient).toBe('builtin');
      expect(lines().filter((line) => line.level === 40)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('auto with a parser that fails the self-test: one warning line, undici serves', async () => {
    const { logger, lines } = capture();
    const server = await startInProcess(
      { upstream: upstream.url, upstreamClient: 'auto', logLevel: 'info' },
      {},
      { logger, upstreamHttpParser: brokenParser() },
    );
    try {
      const listening = await untilValue(() => lines().find((line) => line.msg === 'listening'), 'listening');
      expect(listening.upstreamClient).toBe("undici (auto: node's internal HTTP parser unfit)");
      const warnings = lines().filter((line) => String(line.msg).startsWith('upstream client auto'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.cause).toMatch(/failed its self-test \(saw: /);
      // Served (unsigned: refused 401 by the gateway itself, so the route is up; the relay is the
      // undici one, exercised by the suites under HMAC_KIT_TEST_UPSTREAM_CLIENT=undici).
      const answer = await fetch(`${server.url}/anything`);
      expect(answer.status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('explicit builtin with a parser that fails the self-test: refused with one line naming undici', async () => {
    const attempt = startInProcess(
      { upstream: upstream.url, upstreamClient: 'builtin' },
      {},
      { upstreamHttpParser: brokenParser() },
    );
    await expect(attempt).rejects.toThrow(ConfigError);
    const message = await attempt.then(
      () => '',
      (error: Error) => error.message,
    );
    expect(message).not.toContain('\n');
    expect(message).toMatch(/^--upstream-client builtin: .*self-test.*: use --upstream-client undici \(or auto\)$/);
  });

  it('explicit undici: named in the listening line', async () => {
    const { logger, lines } = capture();
    const server = await startInProcess({ upstream: upstream.url, upstreamClient: 'undici' }, {}, { logger });
    try {
      const listening = await untilValue(() => lines().find((line) => line.msg === 'listening'), 'listening');
      expect(listening.upstreamClient).toBe('undici');
    } finally {
      await server.close();
    }
  });
});

describe.each(['builtin', 'undici'] as const)('auto21: %s client, close() and a full queue', (kind) => {
  let upstream: HoldingUpstream;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('close() lets the request in flight and the queued one finish, then resolves; later requests are refused', async () => {
    upstream.seen.length = 0;
    const client = makeClient(kind, upstream.url);
    const first = get(client, upstream.url, '/hold');
    await until(() => upstream.held.length === 1);
    // One connection: this one waits in the queue.
    const second = get(client, upstream.url, '/queued');
    let closed = false;
    const closing = client.close().then(() => {
      closed = true;
    });
    // Some turns of the event loop: nothing may end the held request or resolve close() meanwhile.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    const late = await get(client, upstream.url, '/late');
    expect('error' in late).toBe(true);
    upstream.release();
    expect(await first).toEqual({ status: 200, body: 'held answer, complete' });
    expect(await second).toEqual({ status: 200, body: 'answer /queued' });
    await closing;
    expect(upstream.seen).toEqual(['/hold', '/queued']);
  });

  it(
    kind === 'builtin'
      ? 'a request over the queue bound is refused at once, nothing sent'
      : 'undici has no queue bound: the same request waits and is served',
    async () => {
      upstream.seen.length = 0;
      const client = makeClient(kind, upstream.url, 1);
      try {
        const first = get(client, upstream.url, '/hold');
        await until(() => upstream.held.length === 1);
        const second = get(client, upstream.url, '/queued');
        const third = get(client, upstream.url, '/over');
        if (kind === 'builtin') {
          const refused = await third;
          expect('error' in refused && refused.error).toBeInstanceOf(UpstreamBusyError);
          upstream.release();
          expect(await first).toMatchObject({ status: 200 });
          expect(await second).toMatchObject({ status: 200 });
          expect(upstream.seen).toEqual(['/hold', '/queued']);
        } else {
          upstream.release();
          expect(await first).toMatchObject({ status: 200 });
          expect(await second).toMatchObject({ status: 200 });
          expect(await third).toEqual({ status: 200, body: 'answer /over' });
        }
      } finally {
        upstream.release();
        await client.close();
      }
    },
  );
});

describe('auto21: the gateway answers a full builtin queue 503 upstream_busy', () => {
  let upstream: HoldingUpstream;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('problem+json, Retry-After, counted; the others are served after the upstream answers', async () => {
    // --max-connections 1 bounds the queue at one; the gateway's own connection count at one.
    const config = loadConfig({
      flags: { upstream: upstream.url, upstreamClient: 'builtin', maxConnections: 1, database: ':memory:' },
      env: {},
    });
    const metrics = createMetrics();
    const admission = {
      ok: true,
      identity: { keyId: 'k', principal: 'p', scopes: [], scheme: 'rfc9421', coveredComponents: ['@method'] },
      signatureVerified: true,
      checksBody: false,
      update() {},
      async finish() {
        return { ok: true, identity: admission.identity, headers: {} };
      },
      async complete() {
        return { ok: true, identity: admission.identity, headers: {} };
      },
      async commitBeforeBody() {
        return { ok: true, identity: admission.identity, headers: {} };
      },
      async fail(error: unknown) {
        throw error;
      },
      signedBody() {
        return undefined;
      },
    };
    const gateway = createGateway({
      config,
      // Every request admitted unverified: this test is about the relay, not verification.
      authenticator: { admit: async () => admission } as unknown as Parameters<
        typeof createGateway
      >[0]['authenticator'],
      metrics,
      isTrustedProxy: () => false,
      upstreamConnections: 1,
    });
    expect(gateway.client).toBe('builtin');
    const { base, contexts, close } = await listenGateway(gateway);
    try {
      upstream.seen.length = 0;
      const first = fetch(`${base}/hold`);
      await until(() => upstream.held.length === 1);
      const second = fetch(`${base}/queued`);
      await until(() => contexts.length === 2);
      // The second was dispatched (into the queue) in the turn its handler ran, long before the
      // poll above saw it: the third finds the queue full.
      const third = await fetch(`${base}/over`);
      expect(third.status).toBe(503);
      expect(third.headers.get('content-type')).toBe('application/problem+json');
      expect(third.headers.get('retry-after')).toBe('1');
      expect(await third.json()).toMatchObject({ status: 503, code: 'upstream_busy' });
      expect(await metrics.registry.getSingleMetricAsString('hmac_kit_upstream_errors_total')).toMatch(
        /kind="busy"\} 1/,
      );
      upstream.release();
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
      expect(upstream.seen).not.toContain('/over');
    } finally {
      upstream.release();
      await close();
      await gateway.close();
    }
  });
});
