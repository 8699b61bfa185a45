import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import type { FailureThrottle, VerificationKey } from '@hmac-kit/core';
import { SignatureInvalid, StoreUnavailable, signMessage, storeFailure, xApi } from '@hmac-kit/core';
import {
  addressNameSubject,
  memoryFailureThrottle,
  memoryNonceStore,
  memoryRateLimiter,
  recommendedRedisOptions,
  redisNonceStore,
} from '@hmac-kit/limits';
import type { Authenticator, AuthenticatorOptions } from '@hmac-kit/middleware';
import { createAuthenticator, DEFAULT_MAX_BODY_BYTES } from '@hmac-kit/middleware';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

const origin = 'https://api.example.com';

async function signedOrder(key: VerificationKey = keyRing.orders, body = '{"quantity":1}') {
  const request = await signed(
    origin,
    { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
    signingKey(key),
  );
  return {
    message: { method: request.method, url: `${origin}${request.path}`, headers: request.headers },
    body: new TextEncoder().encode(request.body as string),
  };
}

async function authenticateOrder(authenticator: Authenticator, key: VerificationKey) {
  const { message, body } = await signedOrder(key);
  return authenticator.authenticate(message, body);
}

describe('createAuthenticator option validation', () => {
  const base: AuthenticatorOptions = { keys: resolveKey };
  const misuses: [string, unknown][] = [
    ['no options', undefined],
    ['keys missing', {}],
    ['keys not a function', { keys: new Map() }],
    ['empty schemes', { ...base, schemes: [] }],
    ['scheme without verify', { ...base, schemes: [{ detect() {}, keyIdOf() {} }] }],
    ['policy not an object', { ...base, policy: 'strict' }],
    ['nonceStore without checkAndStore', { ...base, nonceStore: {} }],
    ['nonceStore factory returning nothing', { ...base, nonceStore: () => undefined }],
    ['rateLimiter without hit', { ...base, rateLimiter: {} }],
    ['defaultRateLimit without rateLimiter', { ...base, defaultRateLimit: { limit: 10, windowSeconds: 60 } }],
    [
      'defaultRateLimit with a zero limit',
      { ...base, rateLimiter: memoryRateLimiter(), defaultRateLimit: { limit: 0, windowSeconds: 60 } },
    ],
    [
      'defaultRateLimit with a fractional window',
      { ...base, rateLimiter: memoryRateLimiter(), defaultRateLimit: { limit: 5, windowSeconds: 0.5 } },
    ],
    ['failureThrottle missing methods', { ...base, failureThrottle: { blockedFor() {} } }],
    ['crypto not a provider', { ...base, crypto: {} }],
    ['negative maxBodyBytes', { ...base, maxBodyBytes: -1 }],
    ['realm with a quote', { ...base, realm: 'a"b' }],
    ['now not a function', { ...base, now: 5 }],
    ['onFailure not a function', { ...base, onFailure: 'console' }],
  ];
  it.each(misuses)('throws TypeError on %s', (_label, options) => {
    expect(() => createAuthenticator(options as AuthenticatorOptions)).toThrow(TypeError);
  });

  it('accepts a nonce store factory, calls it once, and defaults to an in-memory store', () => {
    let calls = 0;
    createAuthenticator({
      keys: resolveKey,
      nonceStore: () => {
        calls++;
        return memoryNonceStore();
      },
    });
    expect(calls).toBe(1);
    expect(createAuthenticator({ keys: resolveKey }).maxBodyBytes).toBe(DEFAULT_MAX_BODY_BYTES);
    expect(createAuthenticator({ keys: resolveKey, maxBodyBytes: 10 }).maxBodyBytes).toBe(10);
    expect(createAuthenticator({ keys: resolveKey, policy: { maxBodyBytes: 20 } }).maxBodyBytes).toBe(20);
  });
});

describe('authenticate', () => {
  it('returns the identity without key material', async () => {
    const authenticator = createAuthenticator({ keys: resolveKey });
    const { message, body } = await signedOrder();
    const outcome = await authenticator.authenticate(message, body);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.identity).toEqual({
      principal: 'billing-service',
      keyId: keyRing.orders.keyId,
      scopes: ['orders:write', 'orders:read'],
      scheme: 'rfc9421',
      coveredComponents: expect.arrayContaining(['@method', '@authority', '@path', 'content-digest']),
    });
    expect(JSON.stringify(outcome)).not.toContain('secret');
    expect(outcome.headers).toEqual({});
  });

  it('uses the default in-memory nonce store: a replay is refused', async () => {
    const authenticator = createAuthenticator({ keys: resolveKey });
    const { message, body } = await signedOrder();
    expect((await authenticator.authenticate(message, body)).ok).toBe(true);
    const replay = await authenticator.authenticate(message, body);
    expect(replay.ok).toBe(false);
    if (replay.ok) return;
    expect((replay.error as { code: string }).code).toBe('ERR_NONCE_REPLAYED');
    expect(replay.problem.status).toBe(401);
  });

  it('applies defaultRateLimit to keys without their own limit, and the key override otherwise', async () => {
    const authenticator = createAuthenticator({
      keys: resolveKey,
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 1, windowSeconds: 60 },
    });
    const first = await authenticateOrder(authenticator, keyRing.orders);
    expect(first.ok && first.headers['RateLimit-Policy']).toBe('"default";q=1;w=60');
    const second = await authenticateOrder(authenticator, keyRing.orders);
    expect(second.ok).toBe(false);
    if (second.ok) return;
    expect(second.problem.status).toBe(429);
    expect(second.problem.headers['Retry-After']).toMatch(/^\d+$/);
    expect(second.problem.headers['RateLimit-Policy']).toBe('"default";q=1;w=60');
    // hk_test_limited carries its own { limit: 2 }.
    const limited = await authenticateOrder(authenticator, keyRing.limited);
    expect(limited.ok && limited.headers['RateLimit-Policy']).toBe('"default";q=2;w=60');
  });

  it('consults the throttle before verifying: a blocked request never reaches the key store', async () => {
    const looked: string[] = [];
    const throttle = memoryFailureThrottle({ maxFailures: 2, freeFailures: 0 });
    const authenticator = createAuthenticator({
      keys: (keyId) => {
        looked.push(keyId);
        return resolveKey(keyId);
      },
      failureThrottle: throttle,
    });
    const wrong: VerificationKey = { ...keyRing.orders, secret: new Uint8Array(32).fill(7) };
    const bad = await signedOrder(wrong);
    const failed = await authenticator.authenticate(bad.message, bad.body, { sourceAddress: '203.0.113.7' });
    expect(failed.ok).toBe(false);
    expect(looked).toHaveLength(1);
    expect(await throttle.blockedFor('addr:203.0.113.7')).toBeGreaterThan(0);
    expect(await throttle.blockedFor(addressNameSubject('203.0.113.7', keyRing.orders.keyId))).toBeGreaterThan(0);
    const good = await signedOrder();
    const blocked = await authenticator.authenticate(good.message, good.body, { sourceAddress: '203.0.113.7' });
    expect(blocked.ok).toBe(false);
    if (blocked.ok) return;
    expect((blocked.error as { code: string }).code).toBe('ERR_TOO_MANY_FAILURES');
    expect(blocked.problem.status).toBe(429);
    expect(looked).toHaveLength(1);
  });

  it('does not count unsigned requests as guesses, and clears a key after a success', async () => {
    const recorded: string[] = [];
    const cleared: string[] = [];
    const throttle: FailureThrottle = {
      async blockedFor() {
        return 0;
      },
      async recordFailure(subject) {
        recorded.push(subject);
        return 0;
      },
      async recordSuccess(subject) {
        cleared.push(subject);
      },
    };
    const authenticator = createAuthenticator({ keys: resolveKey, failureThrottle: throttle });
    const unsigned = await authenticator.authenticate({ method: 'GET', url: `${origin}/`, headers: {} }, null, {
      sourceAddress: '198.51.100.1',
    });
    expect(unsigned.ok).toBe(false);
    expect(recorded).toEqual([]);
    const { message, body } = await signedOrder();
    expect((await authenticator.authenticate(message, body, { sourceAddress: '198.51.100.1' })).ok).toBe(true);
    // The address keeps its record: one valid key must not launder other guesses.
    expect(cleared).toEqual([addressNameSubject('198.51.100.1', keyRing.orders.keyId)]);
  });

  it('reports the precise error to onFailure, survives a throwing logger, and fails closed on store errors', async () => {
    const seen: { code: string; keyId?: string; sourceAddress?: string }[] = [];
    const authenticator = createAuthenticator({
      keys: resolveKey,
      onFailure: (error, context) => {
        seen.push({
          code: (error as { code: string }).code,
          keyId: context.keyId,
          sourceAddress: context.sourceAddress,
        });
        throw new Error('logger down');
      },
    });
    const tampered = await signedOrder();
    const outcome = await authenticator.authenticate(tampered.message, new TextEncoder().encode('{"quantity":9}'), {
      sourceAddress: '192.0.2.1',
    });
    expect(outcome.ok).toBe(false);
    expect(seen).toEqual([{ code: 'ERR_DIGEST_MISMATCH', keyId: keyRing.orders.keyId, sourceAddress: '192.0.2.1' }]);
  });

  it('fails closed (503) when a real Redis nonce store cannot be reached', async () => {
    // A port that was just free: nothing listens there, so every command is refused at once.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new Redis({ host: '127.0.0.1', port, ...recommendedRedisOptions, lazyConnect: true });
    client.on('error', () => {});
    try {
      const codes: string[] = [];
      const authenticator = createAuthenticator({
        keys: resolveKey,
        nonceStore: redisNonceStore({ client }),
        onFailure: (error) => codes.push((error as { code: string }).code),
      });
      const { message, body } = await signedOrder();
      const outcome = await authenticator.authenticate(message, body);
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.problem.status).toBe(503);
      expect(outcome.problem.body.code).toBe('store_unavailable');
      expect(codes).toEqual(['ERR_STORE_UNAVAILABLE']);
    } finally {
      client.disconnect();
    }
  });

  it('keeps query strings (presigned credentials) out of onFailure', async () => {
    const urls: string[] = [];
    const authenticator = createAuthenticator({
      keys: resolveKey,
      onFailure: (_error, context) => urls.push(context.url),
    });
    const message = {
      method: 'GET',
      url: `${origin}/download?X-Amz-Signature=abc123&X-Amz-Credential=hk_x`,
      headers: {},
    };
    await authenticator.authenticate(message, null);
    authenticator.fail(new Error('x'), { method: 'GET', url: '/download?token=secret#frag' });
    expect(urls).toEqual([`${origin}/download`, '/download']);
  });

  it('authorize() refuses missing scopes with a 403 problem and accepts held ones', async () => {
    const authenticator = createAuthenticator({ keys: resolveKey });
    const { message, body } = await signedOrder();
    const outcome = await authenticator.authenticate(message, body);
    if (!outcome.ok) throw outcome.error;
    expect(authenticator.authorize(outcome.identity, ['orders:write']).ok).toBe(true);
    const refused = authenticator.authorize(outcome.identity, ['orders:write', 'admin']);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.problem.status).toBe(403);
    expect(refused.problem.body.code).toBe('scope_insufficient');
    expect(() => authenticator.authorize(outcome.identity, [])).toThrow(TypeError);
  });

  it('fail() maps an arbitrary error to a generic 500 problem without details', () => {
    const authenticator = createAuthenticator({ keys: resolveKey });
    const failure = authenticator.fail(new Error('database password is hunter2'));
    expect(failure.problem.status).toBe(500);
    expect(JSON.stringify(failure.problem)).not.toContain('hunter2');
    expect(authenticator.fail(new SignatureInvalid('x')).problem.status).toBe(401);
  });
});

describe('a store failing with a plain Error (not StoreUnavailable)', () => {
  const secretMessage = 'connect ECONNREFUSED postgres://app:hunter2@10.0.0.7/keys';

  it('is answered 503 store_unavailable; onFailure gets StoreUnavailable with the thrown error as cause', async () => {
    const thrown = new Error(secretMessage);
    const seen: unknown[] = [];
    const authenticator = createAuthenticator({
      keys: resolveKey,
      nonceStore: { checkAndStore: () => Promise.reject(thrown) },
      onFailure: (error) => seen.push(error),
    });
    const { message, body } = await signedOrder();
    const outcome = await authenticator.authenticate(message, body, { sourceAddress: '192.0.2.30' });
    if (outcome.ok) throw new Error('expected a 503');
    expect(outcome.problem.status).toBe(503);
    expect(outcome.problem.body.code).toBe('store_unavailable');
    expect(JSON.stringify(outcome.problem)).not.toContain('hunter2');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(StoreUnavailable);
    expect((seen[0] as Error).cause).toBe(thrown);
    expect((seen[0] as Error).message).toBe('nonce store failed (Error)');
  });

  it('without onFailure, prints the store and the error class on stderr, never its message', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const authenticator = createAuthenticator({
        keys: () => {
          throw new TypeError(secretMessage);
        },
      });
      const { message, body } = await signedOrder();
      const outcome = await authenticator.authenticate(message, body);
      expect(outcome.ok ? 200 : outcome.problem.status).toBe(503);
      const printed = errors.mock.calls.map((call) => call.join(' ')).join('\n');
      expect(printed).toContain('key resolver failed (TypeError)');
      expect(printed).toContain('503 store_unavailable');
      expect(printed).not.toContain('hunter2');
    } finally {
      errors.mockRestore();
    }
  });

  it('keeps an hmac-kit error a store throws as it is (a StoreUnavailable of its own, a refusal)', () => {
    const own = new StoreUnavailable('redis down');
    expect(storeFailure(own, 'nonce store')).toBe(own);
    const refusal = new SignatureInvalid('no');
    expect(storeFailure(refusal, 'key resolver')).toBe(refusal);
    const wrapped = storeFailure('a string', 'rate limiter');
    expect(wrapped).toBeInstanceOf(StoreUnavailable);
    expect(wrapped.message).toBe('rate limiter failed (string)');
  });
});

describe('admit (header stages), then finish (body stage and commit)', () => {
  it('admits on the headers alone and hands back the body check, which accepts the signed body', async () => {
    const authenticator = createAuthenticator({ keys: resolveKey });
    const { message, body } = await signedOrder(keyRing.orders);
    const outcome = await authenticator.admit(message, { hasBody: true });
    if (!outcome.ok) throw new Error(`refused: ${outcome.problem.body.code}`);
    expect(outcome.identity.keyId).toBe(keyRing.orders.keyId);
    expect(outcome.checksBody).toBe(true);
    outcome.update(body);
    expect((await outcome.finish()).ok).toBe(true);
  });

  it('leaves a tampered body to the body stage, which counts it as a guess and reports it once', async () => {
    const failures: string[] = [];
    const throttle = memoryFailureThrottle({ maxFailures: 100, freeFailures: 0, slowdownSeconds: 1 });
    const authenticator = createAuthenticator({
      keys: resolveKey,
      failureThrottle: throttle,
      onFailure: (error) => failures.push((error as { code: string }).code),
    });
    const { message, body } = await signedOrder(keyRing.orders);
    const outcome = await authenticator.admit(message, { hasBody: true, sourceAddress: '198.51.100.9' });
    if (!outcome.ok) throw new Error(`refused: ${outcome.problem.body.code}`);
    const tampered = Uint8Array.from(body);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    outcome.update(tampered);
    const finished = await outcome.finish();
    expect(finished.ok ? 'accepted' : finished.problem.body.code).toBe('digest_mismatch');
    expect(failures).toEqual(['ERR_DIGEST_MISMATCH']);
    expect(await throttle.blockedFor('addr:198.51.100.9')).toBeGreaterThan(0);
    expect(await throttle.blockedFor(addressNameSubject('198.51.100.9', keyRing.orders.keyId))).toBeGreaterThan(0);
  });

  it('applies the same refusals as authenticate: unsigned, replayed, rate-limited with headers', async () => {
    const authenticator = createAuthenticator({
      keys: resolveKey,
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 1, windowSeconds: 60 },
    });
    const unsigned = await authenticator.admit(
      { method: 'GET', url: `${origin}/orders`, headers: {} },
      { hasBody: false },
    );
    expect(unsigned.ok ? 'admitted' : unsigned.problem.body.code).toBe('signature_missing');

    const first = await signedOrder(keyRing.orders);
    const admitted = await authenticator.admit(first.message, { hasBody: true });
    if (!admitted.ok) throw new Error('refused');
    admitted.update(first.body);
    const committed = await admitted.finish();
    if (!committed.ok) throw new Error(`refused: ${committed.problem.body.code}`);
    expect(committed.headers).toHaveProperty('RateLimit');
    // A replay passes the header stages and is refused at commit, where the nonce is recorded.
    const replayed = await authenticator.admit(first.message, { hasBody: true });
    if (!replayed.ok) throw new Error('refused early');
    replayed.update(first.body);
    const replay = await replayed.finish();
    expect(replay.ok ? 'admitted' : replay.problem.body.code).toBe('nonce_replayed');

    const second = await signedOrder(keyRing.orders);
    const admittedSecond = await authenticator.admit(second.message, { hasBody: true });
    if (!admittedSecond.ok) throw new Error('refused early');
    const limited = await admittedSecond.complete(second.body);
    if (limited.ok) throw new Error('expected a 429');
    expect(limited.problem.status).toBe(429);
    expect(limited.problem.headers).toHaveProperty('Retry-After');
    expect(limited.problem.headers).toHaveProperty('RateLimit-Policy');
  });
});

describe('admit with a scheme that signs the body itself', () => {
  it('proves nothing until the body is fed: no throttle reset, no rate-limit charge, signatureVerified false', async () => {
    const memory = memoryFailureThrottle();
    const successes: string[] = [];
    const throttle: FailureThrottle = {
      blockedFor: (subject) => memory.blockedFor(subject),
      recordFailure: (subject) => memory.recordFailure(subject),
      recordSuccess: async (subject) => {
        successes.push(subject);
        await memory.recordSuccess(subject);
      },
    };
    const limiter = memoryRateLimiter();
    const authenticator = createAuthenticator({
      keys: resolveKey,
      schemes: [xApi()],
      failureThrottle: throttle,
      rateLimiter: limiter,
      defaultRateLimit: { limit: 1, windowSeconds: 60 },
    });
    const body = '{"quantity":1}';
    const forged = {
      method: 'POST',
      url: `${origin}/orders`,
      headers: {
        'x-api-key': keyRing.orders.keyId,
        'x-api-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-api-nonce': 'forged-nonce-0001',
        'x-api-signature': '00'.repeat(32),
      },
    };
    const pending = await authenticator.admit(forged, { hasBody: true, sourceAddress: '192.0.2.30' });
    if (!pending.ok) throw new Error(`refused early: ${pending.problem.body.code}`);
    expect(pending.signatureVerified).toBe(false);
    // The forgery neither cleared the key's failures nor spent its single request.
    expect(successes).toEqual([]);
    pending.update(new TextEncoder().encode(body));
    const refused = await pending.finish();
    expect(refused.ok ? 'accepted' : refused.problem.body.code).toBe('signature_invalid');

    const genuine = await signMessage(
      { method: 'POST', url: `${origin}/orders`, headers: {}, body },
      signingKey(keyRing.orders),
      { scheme: xApi() },
    );
    const admitted = await authenticator.admit(
      { method: 'POST', url: genuine.url, headers: genuine.headers },
      { hasBody: true, sourceAddress: '192.0.2.30' },
    );
    if (!admitted.ok) throw new Error(`refused: ${admitted.problem.body.code}`);
    admitted.update(new TextEncoder().encode(body));
    expect((await admitted.finish()).ok).toBe(true);
    // Proven now: the (address, key) record is cleared and the key's one request is spent.
    expect(successes).toEqual([addressNameSubject('192.0.2.30', keyRing.orders.keyId)]);
    expect((await limiter.hit(`key:${keyRing.orders.keyId}`, 1, 60)).allowed).toBe(false);
  });
});

describe('failure throttle answers: blockedForOrUnrecorded(), synchronous values, rejections', () => {
  /** A memory throttle whose calls are logged; `withProbe: false` hides blockedForOrUnrecorded() (the general path). */
  function loggedThrottle(withProbe: boolean) {
    const memory = memoryFailureThrottle();
    const calls: string[] = [];
    const throttle: FailureThrottle & { blockedForOrUnrecorded?: (subject: string) => Promise<number> } = {
      blockedFor: (subject) => memory.blockedFor(subject),
      recordFailure: (subject) => {
        calls.push(`failure ${subject}`);
        return memory.recordFailure(subject);
      },
      recordSuccess: (subject) => {
        calls.push(`success ${subject}`);
        return memory.recordSuccess(subject);
      },
    };
    if (withProbe) throttle.blockedForOrUnrecorded = (subject) => memory.blockedForOrUnrecorded(subject);
    return { throttle, calls, memory };
  }

  it('skips recordSuccess only for a key with nothing recorded; a key with failures is still cleared', async () => {
    const outcomes: Record<string, unknown>[] = [];
    const states: number[] = [];
    for (const withProbe of [false, true]) {
      const { throttle, calls, memory } = loggedThrottle(withProbe);
      const authenticator = createAuthenticator({ keys: resolveKey, failureThrottle: throttle });
      const context = { sourceAddress: '192.0.2.10' };
      const clean = await signedOrder();
      const first = await authenticator.authenticate(clean.message, clean.body, context);
      const tampered = await signedOrder();
      const guessed = await authenticator.authenticate(tampered.message, new TextEncoder().encode('{}'), context);
      const after = await signedOrder();
      const cleared = await authenticator.authenticate(after.message, after.body, context);
      outcomes.push({ first: first.ok, guessed: guessed.ok, cleared: cleared.ok });
      const key = addressNameSubject('192.0.2.10', keyRing.orders.keyId);
      states.push(await memory.blockedForOrUnrecorded(key), await memory.blockedForOrUnrecorded('addr:192.0.2.10'));
      const failures = [`failure addr:192.0.2.10`, `failure ${key}`];
      // Without blockedForOrUnrecorded() every success clears the key; with it, only the one after a failure does.
      expect(calls).toEqual(
        withProbe ? [...failures, `success ${key}`] : [`success ${key}`, ...failures, `success ${key}`],
      );
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(outcomes[0]).toEqual({ first: true, guessed: false, cleared: true });
    // The key is clear again and the address keeps its failure, on both paths.
    expect(states.slice(2)).toEqual(states.slice(0, 2));
    expect(states[0]).toBe(-1);
    expect(states[1]).toBe(0);
  });

  it('accepts synchronous answers and bare thenables, and refuses on them exactly as on promises', async () => {
    // biome-ignore lint/suspicious/noThenProperty: a bare thenable (no catch()) is exactly what is under test.
    const thenable = <T>(value: T) => ({ then: (resolve: (value: T) => unknown) => resolve(value) });
    for (const [blocked, wrap] of [
      [0, <T>(value: T) => value],
      [2.5, <T>(value: T) => value],
      [0, thenable],
      [2.5, thenable],
    ] as const) {
      const throttle = {
        blockedFor: (subject: string) => wrap(subject.startsWith('addr:') ? blocked : 0),
        recordFailure: () => wrap(0),
        recordSuccess: () => wrap(undefined),
      } as unknown as FailureThrottle;
      const authenticator = createAuthenticator({ keys: resolveKey, failureThrottle: throttle });
      const { message, body } = await signedOrder();
      const outcome = await authenticator.authenticate(message, body, { sourceAddress: '192.0.2.11' });
      if (blocked === 0) expect(outcome.ok).toBe(true);
      else {
        if (outcome.ok) throw new Error('expected a 429');
        expect(outcome.problem.status).toBe(429);
        expect(outcome.problem.headers['Retry-After']).toBe('3');
      }
    }
  });

  it('fails closed (503) when a lookup rejects or throws, without an unhandled rejection of the other', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failures: ['reject' | 'throw', 'addr' | 'key'][] = [
        ['reject', 'addr'],
        ['reject', 'key'],
        ['throw', 'addr'],
        ['throw', 'key'],
      ];
      // The late rejections made and done: the test waits for all of them, not for a fixed time.
      let lateMade = 0;
      let lateDone = 0;
      for (const [how, which] of failures) {
        const broken = (subject: string): Promise<number> => {
          const down = new StoreUnavailable('throttle store down');
          if (!subject.startsWith(`${which}:`)) {
            // The other lookup is pending, and rejects too once the first has failed.
            lateMade++;
            return new Promise((_, reject) =>
              setTimeout(() => {
                reject(down);
                lateDone++;
              }, 5),
            );
          }
          if (how === 'throw') throw down;
          return Promise.reject(down);
        };
        // The promise way of the throttle (the memory throttle's synchronous capabilities left out:
        // with them the middleware would never call the broken promise methods).
        const memory = { ...memoryFailureThrottle(), blockedForNow: undefined, blockedForOrUnrecordedNow: undefined };
        for (const throttle of [
          { ...memory, blockedFor: broken, blockedForOrUnrecorded: undefined },
          { ...memory, blockedFor: broken, blockedForOrUnrecorded: broken },
        ]) {
          const authenticator = createAuthenticator({ keys: resolveKey, failureThrottle: throttle });
          const { message, body } = await signedOrder();
          const outcome = await authenticator.authenticate(message, body, { sourceAddress: '192.0.2.12' });
          if (outcome.ok) throw new Error('expected a 503');
          expect(outcome.problem.status).toBe(503);
        }
      }
      expect(lateMade).toBeGreaterThan(0);
      while (lateDone < lateMade) await new Promise((resolve) => setTimeout(resolve, 1));
      // Node reports a rejection nobody handles once the task that rejected it ends: one more turn.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
