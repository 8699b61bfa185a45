/**
 * One behavioural suite run against every framework adapter (express, fastify, hono,
 * node-http, fetch). Each adapter test supplies a harness: an app with the framework's
 * usual JSON parser and three routes, reached the way that framework is normally served.
 */

import type {
  FailureThrottle,
  MessageParts,
  NonceStore,
  RateLimiter,
  SigningKey,
  SignOptions,
  VerificationKey,
} from '@hmac-kit/core';
import { formatSecret, rfc9421, StoreUnavailable, signMessage, sigv4 } from '@hmac-kit/core';
import { memoryFailureThrottle, memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { afterEach, describe, expect, it, vi } from 'vitest';

export interface SentRequest {
  method: string;
  /** Path and query, e.g. `/orders?x=1`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Received {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the routes under test
  body: any;
}

/**
 * An app built by the adapter under test. Routes:
 * - `POST /orders`: `requireScopes('orders:write')`; answers 201 `{ principal, keyId, scopes, scheme, received }`
 *   where `received` is the body as parsed by the framework's own JSON parser.
 * - `GET /whoami`: answers 200 `{ principal, keyId, scheme, coveredComponents }`.
 * - `POST /admin`: `requireScopes('admin')`; answers 200 `{ ok: true }`.
 */
export interface Harness {
  /** Origin requests must be signed for (what the app sees as the addressed origin). */
  origin: string;
  send(request: SentRequest): Promise<Received>;
  /**
   * Sends `request` with `target` written as the request line's request-target (the absolute form,
   * a `//` path), Host naming {@link origin}. Only harnesses served over a socket have it.
   */
  sendRawTarget?(request: SentRequest, target: string): Promise<Received>;
  close(): Promise<void>;
}

export type StartHarness = (options: AuthenticatorOptions) => Promise<Harness>;

function randomSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export const keyRing = {
  orders: {
    keyId: 'hk_test_orders',
    secret: randomSecret(),
    algorithm: 'sha256',
    principal: 'billing-service',
    scopes: ['orders:write', 'orders:read'],
  },
  reader: { keyId: 'hk_test_reader', secret: randomSecret(), algorithm: 'sha256', scopes: ['orders:read'] },
  limited: {
    keyId: 'hk_test_limited',
    secret: randomSecret(),
    algorithm: 'sha256',
    principal: 'batch-job',
    scopes: ['orders:write'],
    rateLimit: { limit: 2, windowSeconds: 60 },
  },
} satisfies Record<string, VerificationKey>;

const keysById = new Map<string, VerificationKey>(Object.values(keyRing).map((key) => [key.keyId, key]));

/** A KeyResolver over the in-memory key ring. */
export function resolveKey(keyId: string): VerificationKey | undefined {
  return keysById.get(keyId);
}

export function signingKey(key: VerificationKey): SigningKey {
  return { keyId: key.keyId, secret: key.secret, algorithm: key.algorithm };
}

/** Signs `request` for `origin` with the core's signer and returns it with the signature headers added. */
export async function signed(
  origin: string,
  request: SentRequest,
  key: SigningKey,
  signBody: string | undefined = request.body,
  options?: SignOptions,
): Promise<SentRequest> {
  const { headers } = await signMessage(
    { method: request.method, url: `${origin}${request.path}`, headers: request.headers, body: signBody ?? null },
    key,
    options,
  );
  return { ...request, headers: { ...request.headers, ...headers } };
}

/**
 * `GET /whoami` signed for `origin` under `keyRing.orders` with `@scheme` covered besides the
 * default components: the request of the tests that check which scheme an adapter sees.
 *
 * @example
 * const request = await signedWhoamiWithScheme('https://api.example.com');
 * (await harness.send(request)).status; // 200 when the app sees https
 */
export function signedWhoamiWithScheme(origin: string): Promise<SentRequest> {
  return signed(origin, { method: 'GET', path: '/whoami', headers: {} }, signingKey(keyRing.orders), undefined, {
    components: ['@method', '@scheme', '@authority', '@path', '@query'],
  });
}

/**
 * A signed `POST https://api.example.com/orders` of `{"quantity":1}` as the message and body an
 * authenticator takes, under `keyRing.orders` (or its key id with `secret`, a bad signature).
 *
 * @example
 * const { message, body } = await signedOrderMessage();
 * await authenticator.authenticate(message, body, { sourceAddress: '192.0.2.9' });
 */
export async function signedOrderMessage(secret?: Uint8Array): Promise<{ message: MessageParts; body: Uint8Array }> {
  const origin = 'https://api.example.com';
  const body = '{"quantity":1}';
  const key = secret === undefined ? keyRing.orders : { ...keyRing.orders, secret };
  const sent = await signed(
    origin,
    { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
    signingKey(key),
    body,
  );
  return {
    message: { method: 'POST', url: `${origin}${sent.path}`, headers: { host: 'api.example.com', ...sent.headers } },
    body: new TextEncoder().encode(body),
  };
}

/**
 * The memory nonce store behind methods that all answer with promises, the synchronous `*Now`
 * capability included (a store that declares a capability and breaks its contract): the adversarial
 * tests of the middleware's synchronous ways hold that such a store still fails closed.
 *
 * @example
 * const authenticator = createAuthenticator({ keys: resolveKey, nonceStore: promisingNonceStore() });
 */
export function promisingNonceStore(): NonceStore {
  const memory = memoryNonceStore();
  const answer = (keyId: string, nonce: string, ttl: number, epoch?: number) =>
    memory.checkAndStore(keyId, nonce, ttl, epoch);
  return { epoch: memory.epoch, checkAndStore: answer, checkAndStoreNow: answer as never };
}

/**
 * A memory failure throttle (1 free failure, blocked at 3) whose `*Now` capabilities answer with
 * promises, as {@link promisingNonceStore}.
 *
 * @example
 * const authenticator = createAuthenticator({ keys: resolveKey, failureThrottle: promisingThrottle() });
 */
export function promisingThrottle(): FailureThrottle {
  const memory = memoryFailureThrottle({ freeFailures: 1, maxFailures: 3 });
  return {
    blockedFor: (subject) => memory.blockedFor(subject),
    recordFailure: (subject) => memory.recordFailure(subject),
    recordSuccess: (subject) => memory.recordSuccess(subject),
    blockedForNow: ((subject: string) => memory.blockedFor(subject)) as never,
    recordFailureNow: ((subject: string) => memory.recordFailure(subject)) as never,
    recordSuccessNow: ((subject: string) => memory.recordSuccess(subject)) as never,
  };
}

/** A NonceStore whose backend is down, as a Redis outage looks to the verifier. */
export const unreachableNonceStore: NonceStore = {
  async checkAndStore() {
    throw new StoreUnavailable('nonce store unreachable');
  },
};

/** What a custom store's plain error says: it must reach neither the client nor the refusal's message. */
export const STORE_ERROR_MESSAGE = 'connect ECONNREFUSED redis://:hunter2-store-password@10.0.0.7:6379';

/** What the stores of one request did, counted by {@link plainErrorStores}. */
export interface StoreEffects {
  /** Nonces recorded as fresh. */
  nonces: number;
  /** Rate-limit hits charged. */
  charged: number;
  /** Failures written to the failure throttle. */
  failures: number;
}

/**
 * The stores and key resolvers that throw (or reject with) a plain `Error` carrying
 * {@link STORE_ERROR_MESSAGE}, not hmac-kit's `StoreUnavailable`: a custom store over a driver that
 * does not know hmac-kit. Each case gives the authenticator options (every store counted, the one
 * named broken) and the effects it counted.
 *
 * @example
 * for (const [name, make] of plainErrorStores()) { const { options, effects } = make(); ... }
 */
export function plainErrorStores(): [
  string,
  () => { options: Partial<AuthenticatorOptions>; effects: StoreEffects },
][] {
  const fail = () => new Error(STORE_ERROR_MESSAGE);
  const counted = (broken: {
    keys?: AuthenticatorOptions['keys'];
    nonce?: Partial<NonceStore>;
    limiter?: Partial<RateLimiter>;
    throttle?: Partial<FailureThrottle>;
  }) => {
    const effects: StoreEffects = { nonces: 0, charged: 0, failures: 0 };
    const nonces = memoryNonceStore();
    const nonceStore: NonceStore = {
      epoch: nonces.epoch,
      async checkAndStore(keyId, nonce, ttl, epoch) {
        const fresh = await nonces.checkAndStore(keyId, nonce, ttl, epoch);
        if (fresh) effects.nonces++;
        return fresh;
      },
      ...broken.nonce,
    };
    const limits = memoryRateLimiter();
    const rateLimiter: RateLimiter = {
      hit(key, limit, windowSeconds) {
        effects.charged++;
        return limits.hit(key, limit, windowSeconds);
      },
      ...broken.limiter,
    };
    const throttles = memoryFailureThrottle();
    const failureThrottle: FailureThrottle = {
      blockedFor: (subject) => throttles.blockedFor(subject),
      recordFailure(subject) {
        effects.failures++;
        return throttles.recordFailure(subject);
      },
      recordSuccess: (subject) => throttles.recordSuccess(subject),
      ...broken.throttle,
    };
    const options: Partial<AuthenticatorOptions> = {
      keys: broken.keys ?? resolveKey,
      nonceStore,
      rateLimiter,
      defaultRateLimit: { limit: 100, windowSeconds: 60 },
      failureThrottle,
    };
    return { options, effects };
  };
  return [
    ['the nonce store rejects', () => counted({ nonce: { checkAndStore: () => Promise.reject(fail()) } })],
    [
      'the nonce store throws synchronously',
      () =>
        counted({
          nonce: {
            checkAndStore: () => {
              throw fail();
            },
          },
        }),
    ],
    [
      "the nonce store's checkAndStoreNow throws",
      () =>
        counted({
          nonce: {
            checkAndStoreNow: () => {
              throw fail();
            },
          },
        }),
    ],
    [
      "the nonce store's epoch throws",
      () =>
        counted({
          nonce: {
            epoch: () => {
              throw fail();
            },
          },
        }),
    ],
    ["the nonce store's epoch rejects", () => counted({ nonce: { epoch: () => Promise.reject(fail()) } })],
    [
      'the key resolver throws',
      () =>
        counted({
          keys: () => {
            throw fail();
          },
        }),
    ],
    ['the key resolver rejects', () => counted({ keys: () => Promise.reject(fail()) })],
    ['the rate limiter rejects', () => counted({ limiter: { hit: () => Promise.reject(fail()) } })],
    [
      "the rate limiter's hitNow throws",
      () =>
        counted({
          limiter: {
            hitNow: () => {
              throw fail();
            },
          },
        }),
    ],
    ['the failure throttle rejects', () => counted({ throttle: { blockedFor: () => Promise.reject(fail()) } })],
    [
      "the failure throttle's synchronous lookup throws",
      () =>
        counted({
          throttle: {
            blockedForNow: () => {
              throw fail();
            },
            recordFailureNow: () => 0,
            recordSuccessNow: () => undefined,
          },
        }),
    ],
    [
      "the failure throttle's clearing of a success rejects",
      () => counted({ throttle: { recordSuccess: () => Promise.reject(fail()) } }),
    ],
  ];
}

interface FailureLog {
  errors: { code?: string; name: string }[];
  onFailure: NonNullable<AuthenticatorOptions['onFailure']>;
}

function failureLog(): FailureLog {
  const errors: FailureLog['errors'] = [];
  return {
    errors,
    onFailure(error) {
      const { code, name } = error as { code?: string; name: string };
      errors.push({ code, name });
    },
  };
}

function jsonOrder(quantity: number): string {
  return JSON.stringify({ item: 'widget', quantity });
}

/** Runs the adapter conformance suite against `start`. */
export function describeAdapter(name: string, start: StartHarness): void {
  describe(`${name} adapter`, () => {
    const running: Harness[] = [];
    afterEach(async () => {
      await Promise.all(running.splice(0).map((harness) => harness.close()));
    });

    async function app(overrides: Partial<AuthenticatorOptions> = {}) {
      const log = failureLog();
      const harness = await start({
        keys: resolveKey,
        nonceStore: memoryNonceStore(),
        rateLimiter: memoryRateLimiter(),
        onFailure: log.onFailure,
        ...overrides,
      });
      running.push(harness);
      return { harness, log };
    }

    function order(quantity = 1): SentRequest {
      return {
        method: 'POST',
        path: '/orders?source=test',
        headers: { 'content-type': 'application/json' },
        body: jsonOrder(quantity),
      };
    }

    it('passes a signed JSON request: the handler sees the identity and the parsed body', async () => {
      const { harness, log } = await app();
      const response = await harness.send(await signed(harness.origin, order(3), signingKey(keyRing.orders)));
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        principal: 'billing-service',
        keyId: keyRing.orders.keyId,
        scopes: ['orders:write', 'orders:read'],
        scheme: 'rfc9421',
        received: { item: 'widget', quantity: 3 },
      });
      expect(log.errors).toEqual([]);
    });

    it('verifies an absolute-form, `//` or `/\\` request target against the addressed origin, not the authority it names', async (context) => {
      const { harness } = await app();
      // A fetch-served harness cannot write a request line: the attack needs a socket.
      if (harness.sendRawTarget === undefined) return context.skip();
      const request = { method: 'GET', path: '/whoami', headers: {} };
      // Signed for another service that accepts the same key; replayed here with the request line
      // naming that service. Verifying against the authority the request line names would accept it.
      // `/\\host/...`: URL parsing reads a backslash after the first slash as a second slash (special
      // schemes), and node:http passes the request line's target through as written.
      for (const target of ['https://other.example/whoami', '//other.example/whoami', '/\\other.example/whoami']) {
        const elsewhere = await signed('https://other.example', request, signingKey(keyRing.reader));
        const replayed = await harness.sendRawTarget(elsewhere, target);
        expect(replayed.status, target).toBe(401);
      }
      // The absolute form of this app's own URL is served as usual.
      const here = await signed(harness.origin, request, signingKey(keyRing.reader));
      const absolute = await harness.sendRawTarget(here, `${harness.origin}/whoami`);
      expect(absolute.status).toBe(200);
      expect(absolute.body.keyId).toBe(keyRing.reader.keyId);
    });

    it('passes a signed GET without a body and reports the covered components', async () => {
      const { harness } = await app();
      const request = { method: 'GET', path: '/whoami', headers: {} };
      const response = await harness.send(await signed(harness.origin, request, signingKey(keyRing.reader)));
      expect(response.status).toBe(200);
      expect(response.body.principal).toBe(keyRing.reader.keyId);
      expect(response.body.coveredComponents).toEqual(expect.arrayContaining(['@method', '@authority', '@path']));
    });

    it('refuses an unsigned request with 401 problem+json and a WWW-Authenticate challenge', async () => {
      const { harness } = await app();
      const response = await harness.send(order());
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.headers.get('www-authenticate')).toBeTruthy();
      expect(response.body.code).toBe('signature_missing');
    });

    it('refuses a body with one tampered byte: digest mismatch in the logs, a 401 problem for the client', async () => {
      const { harness, log } = await app();
      const request = await signed(harness.origin, order(1), signingKey(keyRing.orders));
      const tampered = { ...request, body: jsonOrder(7) };
      const response = await harness.send(tampered);
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_DIGEST_MISMATCH']);
      expect(JSON.stringify(response.body)).not.toContain('widget');
    });

    it('answers a wrong secret exactly as an unknown key id', async () => {
      const { harness, log } = await app();
      const wrongSecret = { ...signingKey(keyRing.orders), secret: randomSecret() };
      const unknownKey = { keyId: 'hk_test_nobody', secret: randomSecret(), algorithm: 'sha256' as const };
      const first = await harness.send(await signed(harness.origin, order(), wrongSecret));
      const second = await harness.send(await signed(harness.origin, order(), unknownKey));
      expect(first.status).toBe(401);
      expect(second.status).toBe(first.status);
      const { instance: _a, ...firstBody } = first.body;
      const { instance: _b, ...secondBody } = second.body;
      expect(secondBody).toEqual(firstBody);
      expect(firstBody.code).toBe('signature_invalid');
      expect(second.headers.get('www-authenticate')).toBe(first.headers.get('www-authenticate'));
      // The logs keep the difference.
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_SIGNATURE_INVALID', 'ERR_KEY_UNKNOWN']);
    });

    it('refuses a replayed request', async () => {
      const { harness, log } = await app();
      const request = await signed(harness.origin, order(), signingKey(keyRing.orders));
      expect((await harness.send(request)).status).toBe(201);
      const replay = await harness.send(request);
      expect(replay.status).toBe(401);
      expect(replay.body.code).toBe('nonce_replayed');
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_NONCE_REPLAYED']);
    });

    it('accepts exactly one of many copies of a request sent at once, and a forged copy ahead of them burns no nonce', async () => {
      // Sent together, the copies arrive in one event-loop turn and are verified in one batch by
      // the adapters that batch verification (inCheckPhase): the nonce must still be taken once,
      // and only by a proven request.
      const { harness } = await app();
      const request = await signed(harness.origin, order(2), signingKey(keyRing.orders));
      const forged = { ...request, body: jsonOrder(9) };
      const forgedAnswer = harness.send(forged);
      const answers = await Promise.all([forgedAnswer, ...Array.from({ length: 8 }, () => harness.send(request))]);
      expect(answers[0].status).toBe(401);
      expect(answers[0].body.code).not.toBe('nonce_replayed');
      const statuses = answers.slice(1).map((answer) => answer.status);
      expect(statuses.filter((status) => status === 201)).toHaveLength(1);
      expect(
        answers
          .slice(1)
          .filter((answer) => answer.status !== 201)
          .map((answer) => answer.body.code),
      ).toEqual(Array(7).fill('nonce_replayed'));
    });

    it('answers 403 when the key lacks the route scope', async () => {
      const { harness, log } = await app();
      const admin = { method: 'POST', path: '/admin', headers: { 'content-type': 'application/json' }, body: '{}' };
      const response = await harness.send(await signed(harness.origin, admin, signingKey(keyRing.orders)));
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body.code).toBe('scope_insufficient');
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_SCOPE_INSUFFICIENT']);
      const reader = await harness.send(await signed(harness.origin, order(), signingKey(keyRing.reader)));
      expect(reader.status).toBe(403);
    });

    it('rate-limits per key: RateLimit headers on success, 429 with Retry-After when exhausted', async () => {
      const { harness, log } = await app();
      const key = signingKey(keyRing.limited);
      const first = await harness.send(await signed(harness.origin, order(), key));
      expect(first.status).toBe(201);
      expect(first.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60');
      expect(first.headers.get('ratelimit')).toMatch(/^"default";r=1;t=\d+$/);
      expect((await harness.send(await signed(harness.origin, order(), key))).status).toBe(201);
      const limited = await harness.send(await signed(harness.origin, order(), key));
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe('rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_RATE_LIMITED']);
    });

    it.each(plainErrorStores())(
      'fails closed with 503 store_unavailable, never 500, when %s with a plain Error',
      async (_name, make) => {
        const { options, effects } = make();
        const { harness, log } = await app(options);
        const response = await harness.send(await signed(harness.origin, order(), signingKey(keyRing.orders)));
        expect(response.status).toBe(503);
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(response.body.code).toBe('store_unavailable');
        // Not admitted: the route never ran, and its answer is the problem alone.
        expect(response.body.received).toBeUndefined();
        const answered = JSON.stringify(response.body) + [...response.headers.values()].join('\n');
        expect(answered).not.toContain('hunter2');
        expect(answered).not.toContain('ECONNREFUSED');
        expect(log.errors.map((error) => error.code)).toEqual(['ERR_STORE_UNAVAILABLE']);
        // An outage is no guess: nothing written to the failure throttle; nothing charged unless
        // the rate limiter is what failed, after the nonce (the commit's order).
        expect(effects.failures).toBe(0);
        if (!_name.includes('rate limiter') && !_name.includes('clearing')) expect(effects.charged).toBe(0);
        if (_name.includes('key resolver') || _name.includes('epoch') || _name.includes('throttle rejects'))
          expect(effects.nonces).toBe(0);
      },
    );

    it('fails closed with 503 when the nonce store is unreachable', async () => {
      const { harness, log } = await app({ nonceStore: unreachableNonceStore });
      const response = await harness.send(await signed(harness.origin, order(), signingKey(keyRing.orders)));
      expect(response.status).toBe(503);
      expect(response.body.code).toBe('store_unavailable');
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_STORE_UNAVAILABLE']);
    });

    it('refuses bodies above maxBodyBytes with 413', async () => {
      const { harness } = await app({ maxBodyBytes: 64 });
      const big = { ...order(), body: JSON.stringify({ item: 'x'.repeat(200), quantity: 1 }) };
      const response = await harness.send(await signed(harness.origin, big, signingKey(keyRing.orders)));
      expect(response.status).toBe(413);
      expect(response.body.code).toBe('body_too_large');
    });

    it('accepts other enabled schemes: SigV4, with a signed and with an unsigned payload', async () => {
      const scheme = sigv4({ allowUnsignedPayload: true });
      const { harness, log } = await app({ schemes: [rfc9421(), scheme] });
      const key = signingKey(keyRing.orders);
      const signedPayload = await harness.send(await signed(harness.origin, order(4), key, undefined, { scheme }));
      expect(signedPayload.status).toBe(201);
      expect(signedPayload.body).toMatchObject({ scheme: 'sigv4', received: { quantity: 4 } });
      // UNSIGNED-PAYLOAD: the verifier never reads the body; the framework's parser still gets all of it.
      const unsignedPayload = await harness.send(
        await signed(harness.origin, order(5), key, undefined, { scheme, unsignedPayload: true }),
      );
      expect(unsignedPayload.status).toBe(201);
      expect(unsignedPayload.body).toMatchObject({ scheme: 'sigv4', received: { quantity: 5 } });
      // With the payload hash signed, a changed body is still caught. (A different order than the
      // first: SigV4 has no nonce, so the same request signed in the same second is a replay.)
      const tampered = await signed(harness.origin, order(6), key, undefined, { scheme });
      expect((await harness.send({ ...tampered, body: jsonOrder(8) })).status).toBe(401);
      expect(log.errors.map((error) => error.code)).toEqual(['ERR_DIGEST_MISMATCH']);
    });

    it('blocks a source after repeated failures, before verifying anything', async () => {
      const throttle = memoryFailureThrottle({ maxFailures: 2, freeFailures: 0, windowSeconds: 60, blockSeconds: 60 });
      const { harness, log } = await app({ failureThrottle: throttle });
      const wrongSecret = { ...signingKey(keyRing.orders), secret: randomSecret() };
      for (let attempt = 0; attempt < 2; attempt++) {
        await harness.send(await signed(harness.origin, order(), wrongSecret));
      }
      const blocked = await harness.send(await signed(harness.origin, order(), signingKey(keyRing.orders)));
      expect(blocked.status).toBe(429);
      expect(blocked.body.code).toBe('too_many_failures');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(log.errors.at(-1)?.code).toBe('ERR_TOO_MANY_FAILURES');
    });

    it('accepts a resolver that returns the printable hks_ secret (and no algorithm), as the CLI prints it', async () => {
      // The README's first resolver: keys pasted from `hmac-kit keys create`. It used to answer 500.
      const printed = {
        keyId: 'hk_test_printed',
        secret: formatSecret(keyRing.orders.secret),
        scopes: ['orders:write'],
      };
      const { harness, log } = await app({
        keys: (keyId) => (keyId === printed.keyId ? (printed as unknown as VerificationKey) : undefined),
      });
      const signer = { keyId: printed.keyId, secret: printed.secret };
      const response = await harness.send(await signed(harness.origin, order(2), signer));
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ keyId: printed.keyId, received: { item: 'widget', quantity: 2 } });
      expect(log.errors).toEqual([]);
      const wrong = await harness.send(
        await signed(harness.origin, order(2), { keyId: printed.keyId, secret: randomSecret() }),
      );
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe('signature_invalid');
    });

    it('names a malformed key (a secret string that is not hks_...) on stderr without onFailure, never the secret', async () => {
      const plain = 'my-plain-text-password-secret';
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
      try {
        const { harness } = await app({
          onFailure: undefined,
          keys: (keyId) => ({ keyId, secret: plain, algorithm: 'sha256' }) as unknown as VerificationKey,
        });
        const response = await harness.send(await signed(harness.origin, order(), signingKey(keyRing.orders)));
        expect(response.status).toBe(500);
        expect(response.body.code).toBe('internal_error');
        const printed = errors.mock.calls.map((call) => call.join(' ')).join('\n');
        expect(printed).toMatch(/TypeError: the keys resolver returned key hk_test_orders with a string secret/);
        expect(printed).toContain('hks_');
        expect(printed).not.toContain(plain);
        expect(JSON.stringify(response.body)).not.toContain(plain);
      } finally {
        errors.mockRestore();
      }
    });
  });
}
