/**
 * The authenticator's fast paths must answer exactly as the general ones:
 * - `authenticate()` without a failure throttle skips the up-front bookkeeping (claimed key id,
 *   failure context) of the throttled path;
 * - a `deferredBody()` within the size limit is handed to the core as bytes instead of being
 *   iterated.
 * Every case runs through each path with its own (identically configured) stores and a fixed
 * clock, and the outcomes and failure reports are compared field by field.
 */
import type { FailureThrottle, MessageParts, VerificationKey } from '@hmac-kit/core';
import { memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import type { AuthContext, AuthenticatorOptions, AuthOutcome } from '@hmac-kit/middleware';
import { createAuthenticator, deferredBody } from '@hmac-kit/middleware';
import { describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

const origin = 'https://api.example.com';
const maxBodyBytes = 64;
const encoder = new TextEncoder();
/**
 * The one clock of this file: requests are signed at it and both paths verify at it. (A verifier
 * clock fixed when the file loaded, against requests signed with the real clock, refused them as
 * signed in the future once a loaded machine took longer than the allowed skew to get there.)
 */
const now = Math.floor(Date.now() / 1000);

/** Never blocks: only there to put `authenticate()` on its general (throttled) path. */
function passThroughThrottle(): FailureThrottle {
  return {
    async blockedFor() {
      return 0;
    },
    async recordFailure() {
      return 0;
    },
    async recordSuccess() {},
  };
}

interface Case {
  name: string;
  /** Requests sent in order to the same authenticator (a replay needs two). */
  requests: () => Promise<{ message: MessageParts; body: Uint8Array | Error }[]>;
}

async function signedRequest(
  options: {
    method?: string;
    body?: string;
    signBody?: string;
    key?: VerificationKey;
    headers?: Record<string, string>;
    path?: string;
  } = {},
) {
  const { method = 'POST', body = '{"quantity":1}', key = keyRing.orders, path = '/orders?x=1' } = options;
  const sent = await signed(
    origin,
    {
      method,
      path,
      headers: { 'content-type': 'application/json', ...options.headers },
      body: method === 'GET' ? undefined : body,
    },
    signingKey(key),
    method === 'GET' ? undefined : (options.signBody ?? body),
    { now: () => now },
  );
  return {
    message: { method, url: `${origin}${sent.path}`, headers: { host: 'api.example.com', ...sent.headers } },
    body: method === 'GET' ? new Uint8Array(0) : encoder.encode(body),
  };
}

const cases: Case[] = [
  { name: 'a valid signed POST', requests: async () => [await signedRequest()] },
  { name: 'a signed GET without a body', requests: async () => [await signedRequest({ method: 'GET' })] },
  { name: 'a signed POST with an empty body', requests: async () => [await signedRequest({ body: '' })] },
  {
    name: 'a tampered body',
    requests: async () => [await signedRequest({ body: '{"quantity":9}', signBody: '{"quantity":1}' })],
  },
  {
    name: 'a wrong secret',
    requests: async () => [await signedRequest({ key: { ...keyRing.orders, secret: new Uint8Array(32).fill(7) } })],
  },
  {
    name: 'an unknown key id',
    requests: async () => [await signedRequest({ key: { ...keyRing.orders, keyId: 'hk_test_nobody' } })],
  },
  {
    name: 'an unsigned request',
    requests: async () => [
      { message: { method: 'POST', url: `${origin}/orders`, headers: {} }, body: encoder.encode('{}') },
    ],
  },
  {
    name: 'a body above the limit, undeclared',
    requests: async () => [await signedRequest({ body: JSON.stringify({ note: 'x'.repeat(maxBodyBytes) }) })],
  },
  {
    name: 'a body above the limit with a bad signature',
    requests: async () => {
      const body = JSON.stringify({ note: 'x'.repeat(maxBodyBytes) });
      return [await signedRequest({ body, signBody: `${body} ` })];
    },
  },
  {
    name: 'a declared Content-Length above the limit',
    requests: async () => [await signedRequest({ headers: { 'content-length': String(maxBodyBytes + 1) } })],
  },
  {
    name: 'a declared Content-Length that is not a number',
    requests: async () => [await signedRequest({ headers: { 'content-length': 'many' } })],
  },
  { name: 'a replay', requests: async () => [await signedRequest()].flatMap((request) => [request, request]) },
  {
    name: 'a rate-limited key (limit 2)',
    requests: async () => [
      await signedRequest({ key: keyRing.limited }),
      await signedRequest({ key: keyRing.limited }),
      await signedRequest({ key: keyRing.limited }),
    ],
  },
  {
    name: 'a body that fails to read',
    requests: async () => {
      const { message } = await signedRequest();
      return [{ message, body: new Error('socket hang up') }];
    },
  },
];

type Path = 'fast' | 'general';
type BodyKind = 'bytes' | 'iterable' | 'deferred';

function bodyOf(kind: BodyKind, body: Uint8Array | Error, reads: { count: number }) {
  const read = async () => {
    reads.count++;
    if (body instanceof Error) throw body;
    return body;
  };
  if (kind === 'deferred') return deferredBody(read);
  if (kind === 'iterable') {
    return {
      async *[Symbol.asyncIterator]() {
        const bytes = await read();
        if (bytes.length > 0) yield bytes;
      },
    };
  }
  if (body instanceof Error) throw new TypeError('bytes cannot fail to read');
  return body;
}

async function run(testCase: Case, path: Path, kind: BodyKind, now: number) {
  const reports: unknown[] = [];
  const options: AuthenticatorOptions = {
    keys: resolveKey,
    maxBodyBytes,
    now: () => now,
    rateLimiter: memoryRateLimiter({ now: () => now * 1000 }),
    // The replay store on the same clock: its memory begins when it is made, and a store on the real
    // clock refuses requests signed at `now` as older than its memory.
    nonceStore: memoryNonceStore({ now: () => now * 1000 }),
    onFailure: (error, context) => reports.push({ error: describeError(error), context }),
  };
  if (path === 'general') options.failureThrottle = passThroughThrottle();
  const authenticator = createAuthenticator(options);
  const outcomes: unknown[] = [];
  const reads = { count: 0 };
  const context: AuthContext = { sourceAddress: '192.0.2.10' };
  for (const { message, body } of await testCase.requests()) {
    if (kind === 'bytes' && body instanceof Error) continue;
    outcomes.push(describeOutcome(await authenticator.authenticate(message, bodyOf(kind, body, reads), context)));
  }
  return { outcomes, reports, reads: reads.count };
}

function describeError(error: unknown) {
  const { name, code, message } = error as { name: string; code?: string; message: string };
  return { name, code, message };
}

function describeOutcome(outcome: AuthOutcome) {
  if (outcome.ok) return { ok: true, identity: outcome.identity, headers: outcome.headers };
  return { ok: false, error: describeError(outcome.error), problem: outcome.problem };
}

describe('authenticate fast paths agree with the general path', () => {
  it.each(cases.map((testCase) => [testCase.name, testCase] as const))(
    '%s: without a throttle as with one (bytes, iterable and deferred bodies)',
    async (_name, testCase) => {
      for (const kind of ['bytes', 'iterable', 'deferred'] as const) {
        const general = await run(testCase, 'general', kind, now);
        const fast = await run(testCase, 'fast', kind, now);
        expect(fast, kind).toEqual(general);
      }
    },
  );

  it.each(cases.map((testCase) => [testCase.name, testCase] as const))(
    '%s: a deferred body answers as the plain async iterable of the same bytes',
    async (_name, testCase) => {
      for (const path of ['fast', 'general'] as const) {
        const iterable = await run(testCase, path, 'iterable', now);
        const deferred = await run(testCase, path, 'deferred', now);
        // The same answers. A deferred body is read only once the header stages passed (the pipeline
        // needs no first chunk to decide), so it is read at most as often: never for a refused signature.
        expect(deferred.outcomes, path).toEqual(iterable.outcomes);
        expect(deferred.reads, path).toBeLessThanOrEqual(iterable.reads);
        expect(deferred.reports.length, path).toBe(iterable.reports.length);
      }
    },
  );

  it('never reads a deferred body declared above the limit, nor one of a blocked source', async () => {
    let reads = 0;
    const read = async () => {
      reads++;
      return new Uint8Array(0);
    };
    const authenticator = createAuthenticator({ keys: resolveKey, maxBodyBytes });
    const tooLarge = await signedRequest({ headers: { 'content-length': String(maxBodyBytes + 1) } });
    const refused = await authenticator.authenticate(tooLarge.message, deferredBody(read));
    expect(refused.ok || refused.problem.status).toBe(413);
    expect(reads).toBe(0);

    const blocking: FailureThrottle = { ...passThroughThrottle(), blockedFor: async () => 30 };
    const throttled = createAuthenticator({ keys: resolveKey, failureThrottle: blocking });
    const { message } = await signedRequest();
    const blocked = await throttled.authenticate(message, deferredBody(read), { sourceAddress: '192.0.2.10' });
    expect(blocked.ok || blocked.problem.status).toBe(429);
    expect(reads).toBe(0);
  });

  it('iterates a deferred body like any async iterable of one chunk', async () => {
    const bytes = encoder.encode('{"a":1}');
    const chunks: Uint8Array[] = [];
    for await (const chunk of deferredBody(async () => bytes)) chunks.push(chunk);
    expect(chunks).toEqual([bytes]);
    const empty: Uint8Array[] = [];
    for await (const chunk of deferredBody(async () => new Uint8Array(0))) empty.push(chunk);
    expect(empty).toEqual([]);
  });
});
