/**
 * Session 24 (helper fix24): with the builtin upstream client, a request that passed the queue check
 * before its admission (review21) and was then verified asynchronously (a key lookup that awaits)
 * could find the queue full at dispatch: it was answered `503 upstream_busy` after its commit, its
 * nonce spent (the retry of the same signed request that `Retry-After` invites was refused
 * `nonce_replayed`) and its rate limit charged. A request now takes its place in the client (a
 * reservation) before its commit: one that finds no place is refused before anything is charged,
 * and one that was committed is always sent.
 *
 * The attack: the real authenticator (memory nonce store), a key lookup the test holds open while it
 * fills the one connection and the one queue place. Then the slot accounting under every way out
 * (commit refused, commit throwing, each body kind), as a property over concurrent mixes: afterwards
 * exactly the client's capacity (one connection, one queue place) is free again, no more, no less.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VerificationKey } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { until } from '../../../test-support/wait.js';
import { loadConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import type { RequestContext } from '../src/request-context.js';
import {
  type HoldingUpstream,
  listenGateway,
  standInAuthenticator,
  startHoldingUpstream,
} from './support/holding-upstream.js';

type GatewayAuthenticator = Parameters<typeof createGateway>[0]['authenticator'];

const builtinGateway = (upstream: HoldingUpstream, authenticator: GatewayAuthenticator) =>
  createGateway({
    // --max-connections 1 bounds the builtin client's queue at one; one upstream connection.
    config: loadConfig({
      flags: { upstream: upstream.url, upstreamClient: 'builtin', maxConnections: 1, database: ':memory:' },
      env: {},
    }),
    authenticator,
    metrics: createMetrics(),
    isTrustedProxy: () => false,
    upstreamConnections: 1,
  });

describe('fix24: a request verified while the queue fills is not charged for a 503', () => {
  let upstream: HoldingUpstream;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('the same signed request, sent again after Retry-After, is served (its nonce was not spent)', async () => {
    let openLookup!: () => void;
    const lookupHeld = new Promise<void>((resolve) => {
      openLookup = resolve;
    });
    let holdNext = true;
    let lookupWaiting = false;
    // The first lookup waits on the test (a key store that awaits); every later one answers at once.
    const keys = async (keyId: string): Promise<VerificationKey | undefined> => {
      if (holdNext) {
        holdNext = false;
        lookupWaiting = true;
        await lookupHeld;
      }
      return resolveKey(keyId);
    };
    // The commit records the nonce: the test sees each one, and so knows when /queued is committed.
    const memory = memoryNonceStore();
    const recorded: string[] = [];
    const nonceStore = {
      epoch: memory.epoch,
      checkAndStore: (keyId: string, nonce: string, ttl: number, epoch?: number) => {
        recorded.push(nonce);
        return memory.checkAndStore(keyId, nonce, ttl, epoch);
      },
    };
    const authenticator = createAuthenticator({
      keys,
      crypto: nodeCryptoProvider,
      nonceStore,
      maxBodyBytes: 1024,
    });
    const gateway = builtinGateway(upstream, authenticator);
    expect(gateway.client).toBe('builtin');
    const { base, close } = await listenGateway(gateway);
    const signedGet = async (path: string) =>
      (await signed(base, { method: 'GET', path, headers: {} }, signingKey(keyRing.orders))).headers;
    const send = (path: string, headers: Record<string, string>) => fetch(`${base}${path}`, { headers });
    try {
      upstream.seen.length = 0;
      const lateHeaders = await signedGet('/late');
      const late = send('/late', lateHeaders);
      await until(() => lookupWaiting);
      // Meanwhile the one connection is taken and the one queue place too.
      const first = send('/hold', await signedGet('/hold'));
      await until(() => upstream.held.length === 1);
      const queuedHeaders = await signedGet('/queued');
      const queued = send('/queued', queuedHeaders);
      await until(() => recorded.length === 2);
      // Let its dispatch run (it queues in the turn it was committed).
      await new Promise((resolve) => setImmediate(resolve));
      // The lookup answers: /late is verified with no place left for it.
      openLookup();
      const refused = await late;
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toMatchObject({ code: 'upstream_busy' });
      // Not committed: its nonce is not recorded, so the retry Retry-After invites can pass.
      expect(recorded).toHaveLength(2);
      upstream.release();
      expect((await first).status).toBe(200);
      expect(await (await queued).text()).toBe('answer /queued');
      const retried = await send('/late', lateHeaders);
      expect({ status: retried.status, body: await retried.text() }).toEqual({ status: 200, body: 'answer /late' });
      expect(upstream.seen).toEqual(['/hold', '/queued', '/late']);
    } finally {
      openLookup();
      upstream.release();
      await close();
      await gateway.close();
    }
  });
});

type Way = 'served' | 'refused' | 'throws';
type BodyKind = 'none' | 'small' | 'streamed';

const BODIES: Record<BodyKind, string | undefined> = {
  none: undefined,
  small: 'x'.repeat(100),
  // Over the gateway's 64 KiB buffered bound: committed before its body, sent with request().
  streamed: 'y'.repeat(70 * 1024),
};

/** The gateway's handler on a local server; a handler that throws is answered 500 (as the router does). */
async function listenCatching(gateway: ReturnType<typeof createGateway>) {
  const log = createLogger('silent');
  let count = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const context = { id: `r${count++}`, started: process.hrtime.bigint(), log } as RequestContext;
    Promise.resolve(gateway.handler(request, response, context)).catch(() => {
      if (!response.headersSent) response.statusCode = 500;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('fix24: the builtin client places taken for commits are all given back', () => {
  let upstream: HoldingUpstream;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('after any concurrent mix of refused, failing and served requests, exactly the capacity is free', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            way: fc.constantFrom<Way>('served', 'refused', 'throws'),
            body: fc.constantFrom<BodyKind>('none', 'small', 'streamed'),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.boolean(),
        async (requests, together) => {
          // Admissions held until every request has arrived (`together`), or each runs as it comes.
          let open!: () => void;
          const gate: { held?: Promise<void> } = {
            held: together ? new Promise<void>((resolve) => (open = resolve)) : undefined,
          };
          // The path names its commit's way: `/served...` commits, `/refused...` is refused, `/throws...` rejects.
          const { authenticator, committed } = standInAuthenticator(
            () => gate.held,
            (path) => (path.startsWith('/refused') ? 'refuse' : path.startsWith('/throws') ? 'throw' : 'commit'),
          );
          const gateway = builtinGateway(upstream, authenticator);
          const { base, close } = await listenCatching(gateway);
          const send = (path: string, body: string | undefined) =>
            fetch(
              `${base}${path}`,
              body === undefined ? {} : { method: 'POST', body, headers: { 'content-type': 'text/plain' } },
            );
          try {
            const answers = requests.map(({ way, body }, index) => send(`/${way}-${index}`, BODIES[body]));
            if (together) {
              await new Promise((resolve) => setImmediate(resolve));
              open();
            }
            const statuses = await Promise.all(
              answers.map(async (answer) => {
                const response = await answer;
                await response.arrayBuffer();
                return response.status;
              }),
            );
            requests.forEach(({ way }, index) => {
              // Any of them may be refused busy (more of them than places), never given another's code.
              const expected = way === 'served' ? [200, 503] : way === 'refused' ? [401, 503] : [500, 503];
              expect(expected).toContain(statuses[index]);
            });
            gate.held = undefined;
            // Exactly one connection and one queue place free: a third request is refused busy.
            upstream.seen.length = 0;
            const first = send('/hold', undefined);
            await until(() => upstream.held.length === 1);
            const second = send('/served-queued', undefined);
            let secondAnswered = false;
            void second.then(() => {
              secondAnswered = true;
            });
            // Committed and queued, or (a place leaked) answered at once: then refused busy, below.
            await until(() => committed.includes('/served-queued') || secondAnswered);
            if (secondAnswered) expect((await second).status).toBe(200);
            // Let its dispatch run (it queues in the turn it was committed).
            await new Promise((resolve) => setImmediate(resolve));
            const third = await send('/served-over', undefined);
            expect(third.status).toBe(503);
            await third.arrayBuffer();
            upstream.release();
            expect((await first).status).toBe(200);
            const queued = await second;
            expect(queued.status).toBe(200);
            await queued.arrayBuffer();
            expect(upstream.seen).toEqual(['/hold', '/served-queued']);
          } finally {
            open?.();
            upstream.release();
            await close();
            await gateway.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
