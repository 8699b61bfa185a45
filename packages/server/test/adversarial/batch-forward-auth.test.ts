/**
 * Attacks on forward-auth's check-phase batches (session 15, batch-serve): the route verifies
 * every check request that arrived in one event-loop turn back to back, in the check phase
 * (`inCheckPhase`), after the route returned. Copies of one signed request in one batch (pipelined
 * in one write, and on several connections written at once): exactly one accepted, the rest
 * replays. A forged copy ahead of the genuine one in the same batch burns no nonce. A client that
 * leaves before its batch runs breaks nothing. A nonce store that throws (synchronously, the memory
 * way) or rejects (the promise way of Redis and of `--workers`' IPC stores) for one request of a
 * batch stalls none of the others; the server answers that one as any route's failure.
 */
import type { IncomingMessage } from 'node:http';
import type { NonceStore } from '@hmac-kit/core';
import { memoryLimitStores, type RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { concurrentExchange, forwardAuthCheck, watchTurns } from '../support/concurrent.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { pipelinedExchange } from '../support/pipelined.js';

type Key = Awaited<ReturnType<typeof issueKey>>;

/** A forward-auth check from `address`, numbered `seq` (0 unless given) for watchTurns(). */
const check = (signer: Key, address: string, seq = '0') => forwardAuthCheck(signer, address, seq);

const outcome = (answer: { status: number; code?: string } | undefined) =>
  answer === undefined ? 'closed' : `${answer.status} ${answer.code ?? ''}`.trim();

describe('adversarial (batch-serve): forward-auth check-phase batches', () => {
  let server: RunningServer;
  let key: Key;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    key = await issueKey(server, 'batch-fa');
  });

  afterAll(async () => {
    await server?.close();
  });

  it('copies of one signed check pipelined in one write (one batch): exactly one 200, the rest nonce_replayed', async () => {
    const turns = watchTurns(server.server);
    try {
      // Four copies: the replays stay within the failure throttle's free failures (3), so each is
      // answered as the replay it is, not slowed down.
      const request = await check(key, freshAddress());
      const copies = [0, 1, 2, 3].map((index) => ({
        ...request,
        headers: { ...request.headers, 'x-test-seq': `p${index}` },
      }));
      const answers = await pipelinedExchange(new URL(server.url), copies);
      expect(new Set(copies.map((copy) => turns.turnOf.get(copy.headers['x-test-seq']!))).size).toBe(1);
      expect(answers.map(outcome)).toEqual(['200', '401 nonce_replayed', '401 nonce_replayed', '401 nonce_replayed']);
    } finally {
      turns.stop();
    }
  });

  it('copies of one signed check on several connections written at once: exactly one 200, the rest nonce_replayed', async () => {
    // The server reads connections written in one tick in one turn most of the time, not always:
    // repeated until one attempt landed in one batch (each attempt must hold on its own anyway).
    let batched = false;
    for (let attempt = 0; attempt < 20 && !batched; attempt++) {
      const turns = watchTurns(server.server);
      try {
        const request = await check(key, freshAddress());
        const copies = [0, 1, 2, 3].map((index) => ({
          ...request,
          headers: { ...request.headers, 'x-test-seq': `c${attempt}-${index}` },
        }));
        const answers = (await concurrentExchange(new URL(server.url), copies, { server: server.server })).map(outcome);
        expect(answers.filter((answer) => answer === '200')).toHaveLength(1);
        expect(answers.filter((answer) => answer === '401 nonce_replayed')).toHaveLength(3);
        batched = new Set(copies.map((copy) => turns.turnOf.get(copy.headers['x-test-seq']!))).size === 1;
      } finally {
        turns.stop();
      }
    }
    expect(batched).toBe(true);
  });

  it('a forged copy ahead of the genuine request in the same batch burns no nonce', async () => {
    const genuine = await check(key, freshAddress());
    const name = Object.keys(genuine.headers).find((header) => header.toLowerCase() === 'signature')!;
    const forged = {
      ...genuine,
      headers: { ...genuine.headers, [name]: genuine.headers[name]!.replace(/:[^:]+:/, `:${'A'.repeat(43)}=:`) },
    };
    const answers = await pipelinedExchange(new URL(server.url), [forged, forged, genuine, genuine]);
    expect(answers.map(outcome)).toEqual([
      '401 signature_invalid',
      '401 signature_invalid',
      '200',
      '401 nonce_replayed',
    ]);
  });

  it('a client that leaves before its batch runs breaks neither the others of the batch nor the server', async () => {
    // The request marked x-test-gone has its connection destroyed in its own 'request' event, after
    // the route queued its verification: the batch then verifies and answers a request whose client
    // is gone. Repeated until the gone one and the others landed in one batch.
    const gone = (request: IncomingMessage) => {
      if (request.headers['x-test-gone'] === '1') request.socket.destroy();
    };
    server.server.on('request', gone);
    let batched = false;
    try {
      for (let attempt = 0; attempt < 20 && !batched; attempt++) {
        const turns = watchTurns(server.server);
        try {
          const requests = await Promise.all(
            [0, 1, 2, 3].map((index) => check(key, freshAddress(), `g${attempt}-${index}`)),
          );
          requests[1]!.headers['x-test-gone'] = '1';
          const answers = (await concurrentExchange(new URL(server.url), requests, { server: server.server })).map(
            outcome,
          );
          expect(answers).toEqual(['200', 'closed', '200', '200']);
          batched = new Set(requests.map((request) => turns.turnOf.get(request.headers['x-test-seq']!))).size === 1;
        } finally {
          turns.stop();
        }
      }
    } finally {
      server.server.off('request', gone);
    }
    expect(batched).toBe(true);
    const [after] = await pipelinedExchange(new URL(server.url), [await check(key, freshAddress())]);
    expect(outcome(after)).toBe('200');
  });
});

/**
 * A memory nonce store that fails for one key: throws from `checkAndStoreNow` (the synchronous
 * way), or, without `checkAndStoreNow` (`promiseOnly`, as Redis and --workers' IPC stores),
 * rejects from `checkAndStore`.
 */
function failingFor(keyIds: Set<string>, promiseOnly: boolean): NonceStore {
  const memory = memoryLimitStores().nonceStore;
  const store: NonceStore = {
    checkAndStore: (keyId, nonce, ttl, epoch) =>
      keyIds.has(keyId)
        ? Promise.reject(new Error('nonce store broken for this key'))
        : memory.checkAndStore(keyId, nonce, ttl, epoch),
    ...(memory.epoch ? { epoch: () => (memory.epoch as () => number)() } : {}),
    ...(memory.release ? { release: (keyId: string, nonce: string) => memory.release!(keyId, nonce) } : {}),
  };
  if (!promiseOnly && memory.checkAndStoreNow) {
    const now = memory.checkAndStoreNow.bind(memory);
    store.checkAndStoreNow = (keyId, nonce, ttl, epoch) => {
      if (keyIds.has(keyId)) throw new Error('nonce store broken for this key');
      return now(keyId, nonce, ttl, epoch);
    };
  }
  return store;
}

describe.each([
  ['throws (synchronous store)', false],
  ['rejects (promise store, as --workers)', true],
])('adversarial (batch-serve): a nonce store that %s for one request of a batch', (_name, promiseOnly) => {
  let server: RunningServer;
  let good: Key;
  let broken: Key;
  const brokenIds = new Set<string>();

  beforeAll(async () => {
    server = await startInProcess(
      { schemes: 'rfc9421' },
      {},
      { limitStores: { ...memoryLimitStores(), nonceStore: failingFor(brokenIds, promiseOnly) } },
    );
    good = await issueKey(server, 'batch-good');
    broken = await issueKey(server, 'batch-broken');
    brokenIds.add(broken.keyId);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('stalls none of the others: they are answered, the failing one gets a 503', async () => {
    const turns = watchTurns(server.server);
    try {
      const requests = await Promise.all([
        check(good, freshAddress(), 's0'),
        check(broken, freshAddress(), 's1'),
        check(good, freshAddress(), 's2'),
        check(good, freshAddress(), 's3'),
      ]);
      // Pipelined: an answer that never came would hold back every later one on the connection.
      const answers = await pipelinedExchange(new URL(server.url), requests);
      expect(new Set(requests.map((request) => turns.turnOf.get(request.headers['x-test-seq']!))).size).toBe(1);
      expect(answers[0]!.status).toBe(200);
      // The pipeline answers a store's error itself (a plain Error too: 503 store_unavailable).
      expect(outcome(answers[1])).toBe('503 store_unavailable');
      expect(answers[2]!.status).toBe(200);
      expect(answers[3]!.status).toBe(200);
      // And the server goes on.
      const [after] = await pipelinedExchange(new URL(server.url), [await check(good, freshAddress())]);
      expect(after!.status).toBe(200);
    } finally {
      turns.stop();
    }
  });
});

describe.each([
  ['throws within the batch (synchronous stores)', false],
  ['rejects after the batch (promise stores, as --workers)', true],
])('adversarial (batch-serve): a verification that %s', (_name, promiseOnly) => {
  let server: RunningServer;
  let key: Key;

  beforeAll(async () => {
    server = await startInProcess(
      { schemes: 'rfc9421' },
      {},
      { limitStores: { ...memoryLimitStores(), nonceStore: failingFor(new Set(), promiseOnly) } },
    );
    key = await issueKey(server, 'batch-throw');
  });

  afterAll(async () => {
    await server?.close();
  });

  it('is answered 500 internal_error, as a route that threw, and stalls none of the others', async () => {
    // The route's own code throws while answering a refusal (the rejected-verification metric):
    // synchronously within the batch for a forged signature (refused before any store call), or in
    // the nonce store's promise continuation for a replay (promise stores). Either way after the
    // route returned: the batch must report it as the route's failure, not throw it out of the
    // check phase (an uncaught exception) or leave a rejected promise unhandled.
    const histogram = server.metrics.verificationSeconds;
    const observe = histogram.observe.bind(histogram);
    histogram.observe = ((labels: { outcome: string }, value: number) => {
      if (labels.outcome === 'rejected') throw new Error('metric broken');
      observe(labels, value);
    }) as typeof histogram.observe;
    const turns = watchTurns(server.server);
    try {
      const spent = await check(key, freshAddress(), 'spent');
      const [first] = await pipelinedExchange(new URL(server.url), [spent]);
      expect(outcome(first)).toBe('200');
      const name = Object.keys(spent.headers).find((header) => header.toLowerCase() === 'signature')!;
      const poison = promiseOnly
        ? { ...spent, headers: { ...spent.headers, 'x-test-seq': 't1' } }
        : {
            ...spent,
            headers: {
              ...spent.headers,
              'x-test-seq': 't1',
              [name]: spent.headers[name]!.replace(/:[^:]+:/, `:${'A'.repeat(43)}=:`),
            },
          };
      const requests = [
        await check(key, freshAddress(), 't0'),
        poison,
        await check(key, freshAddress(), 't2'),
        await check(key, freshAddress(), 't3'),
      ];
      const answers = await pipelinedExchange(new URL(server.url), requests);
      expect(new Set(requests.map((request) => turns.turnOf.get(request.headers['x-test-seq']!))).size).toBe(1);
      expect(answers.map(outcome)).toEqual(['200', '500 internal_error', '200', '200']);
      const [after] = await pipelinedExchange(new URL(server.url), [await check(key, freshAddress())]);
      expect(outcome(after)).toBe('200');
    } finally {
      turns.stop();
      histogram.observe = observe;
    }
  });
});
