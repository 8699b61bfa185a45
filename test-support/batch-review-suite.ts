/**
 * Review of the check-phase batches (`inCheckPhase`, f2506a8) from an attacker's side, run against
 * every adapter that batches (Express, Fastify). Every attack sends its requests so that they are
 * verified in ONE batch (`writeInOneTurn`), and checks that they were (`batchesOf`): many copies
 * of one signed request, a forged copy ahead of them, two apps sharing one nonce store (and the
 * process-global queue), requests of different keys and bodies interleaved, and batch members whose
 * key resolver or nonce store throws, rejects or never answers.
 */
import type { NonceStore, VerificationKey } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { afterEach, describe, expect, it } from 'vitest';
import { type AcceptingServer, clients, rawRequest, writeInOneTurn } from './same-turn.js';

/** The authenticator's options and the adapters' `origin`. */
export type BatchAppOptions = AuthenticatorOptions & { origin?: string };

/**
 * An app with `hmacAuth(options)` and the routes `GET /whoami` (200 `{ keyId }`) and `POST /echo`
 * (200 `{ keyId, got }`, `got` the JSON body the app parsed), listening on `origin` (its node:http
 * `server`).
 */
export type StartBatchApp = (
  options: BatchAppOptions,
) => Promise<{ origin: string; server: AcceptingServer; close(): Promise<void> }>;

const secret = () => crypto.getRandomValues(new Uint8Array(32));
const keys = {
  a: { keyId: 'rb-a', secret: secret(), algorithm: 'sha256', scopes: [] },
  b: { keyId: 'rb-b', secret: secret(), algorithm: 'sha256', scopes: [] },
  c: { keyId: 'rb-c', secret: secret(), algorithm: 'sha256', scopes: [] },
  throws: { keyId: 'rb-throws', secret: secret(), algorithm: 'sha256', scopes: [] },
  rejects: { keyId: 'rb-rejects', secret: secret(), algorithm: 'sha256', scopes: [] },
  hangs: { keyId: 'rb-hangs', secret: secret(), algorithm: 'sha256', scopes: [] },
  store: { keyId: 'rb-store', secret: secret(), algorithm: 'sha256', scopes: [] },
} satisfies Record<string, VerificationKey>;
const signing = (key: VerificationKey) => ({ keyId: key.keyId, secret: key.secret, algorithm: 'sha256' as const });
const json = { 'content-type': 'application/json' };

/**
 * A key resolver that notes, per call, which synchronous run of the loop it came in: calls made in
 * one check-phase callback share a number (no microtask runs between the runs of a batch).
 */
function batchesOf(resolve: (keyId: string) => VerificationKey | undefined | Promise<VerificationKey | undefined>) {
  const seen: number[] = [];
  let batch = 0;
  let open = false;
  return {
    seen,
    keys(keyId: string) {
      if (!open) {
        open = true;
        queueMicrotask(() => {
          open = false;
          batch++;
        });
      }
      seen.push(batch);
      return resolve(keyId);
    },
  };
}

function plainKeys(keyId: string): VerificationKey | undefined {
  return Object.values(keys).find((key) => key.keyId === keyId);
}

export function describeBatchReview(name: string, start: StartBatchApp): void {
  describe(`review-batch (${name})`, () => {
    const running: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      await Promise.all(running.splice(0).map((app) => app.close()));
    });
    async function app(options: BatchAppOptions) {
      const started = await start(options);
      running.push(started);
      return started;
    }

    it('copies of one signed POST on 10 sockets and 5 pipelined in one write, a forged copy first, all in one batch: one accepted, the forged one burns no nonce', async () => {
      const tracked = batchesOf(plainKeys);
      const { origin, server } = await app({ keys: tracked.keys, nonceStore: memoryNonceStore() });
      const body = '{"n":1}';
      const genuine = await rawRequest(origin, { method: 'POST', path: '/echo', headers: json, body }, signing(keys.a));
      // The same head (signature, nonce) over another body of the same length.
      const forged = genuine.replace('{"n":1}', '{"n":9}');
      const sockets = await clients(origin, 11, server);
      const [first, ...rest] = sockets;
      writeInOneTurn([
        [first!, forged],
        ...rest.slice(0, 9).map((client) => [client, genuine] as [typeof client, string]),
        [rest[9]!, genuine.repeat(5)],
      ]);
      const answers = await Promise.all(sockets.map((client, index) => client.waitFor(index === 10 ? 5 : 1)));
      expect(new Set(tracked.seen).size, 'one batch').toBe(1);
      expect(tracked.seen).toHaveLength(15);
      const forgedAnswer = answers[0]![0]!;
      expect(forgedAnswer.status).toBe(401);
      expect(forgedAnswer.body.code).not.toBe('nonce_replayed');
      const copies = answers.slice(1).flat();
      expect(copies).toHaveLength(14);
      expect(copies.filter((answer) => answer.status === 200).map((answer) => answer.body)).toEqual([
        { keyId: keys.a.keyId, got: { n: 1 } },
      ]);
      expect(copies.filter((answer) => answer.status !== 200).map((answer) => answer.body.code)).toEqual(
        Array(13).fill('nonce_replayed'),
      );
    });

    it('two apps sharing one nonce store, copies split between them in one batch: one accepted', async () => {
      const tracked = batchesOf(plainKeys);
      const nonceStore = memoryNonceStore();
      const one = await app({ keys: tracked.keys, nonceStore });
      const two = await app({ keys: tracked.keys, nonceStore });
      // Signed for an origin both apps are told they serve.
      const path = '/whoami';
      const toOne = await rawRequest(one.origin, { method: 'GET', path }, signing(keys.b));
      // The same signed head, sent to the other app (whose authority differs: rewritten to its host).
      const toTwo = toOne.replace(new URL(one.origin).host, new URL(two.origin).host);
      const [oneSockets, twoSockets] = [
        await clients(one.origin, 4, one.server),
        await clients(two.origin, 4, two.server),
      ];
      writeInOneTurn([
        ...oneSockets.map((client) => [client, toOne] as [typeof client, string]),
        ...twoSockets.map((client) => [client, toTwo] as [typeof client, string]),
      ]);
      const answers = (await Promise.all([...oneSockets, ...twoSockets].map((client) => client.waitFor(1)))).flat();
      expect(new Set(tracked.seen).size, 'one batch').toBe(1);
      // The copies sent to the second app name another authority than the one signed: refused as
      // invalid there; of the first app's copies, exactly one passes.
      expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
      expect(
        answers
          .slice(0, 4)
          .filter((answer) => answer.status !== 200)
          .map((answer) => answer.body.code),
      ).toEqual(Array(3).fill('nonce_replayed'));
    });

    it('two apps with the same origin sharing one nonce store: one signed request on both in one batch is accepted once', async () => {
      const tracked = batchesOf(plainKeys);
      const nonceStore = memoryNonceStore();
      const origin = 'https://api.example.com';
      const one = await app({ keys: tracked.keys, nonceStore, origin });
      const two = await app({ keys: tracked.keys, nonceStore, origin });
      const request = await rawRequest(origin, { method: 'GET', path: '/whoami' }, signing(keys.b));
      const oneSockets = await clients(one.origin, 3, one.server);
      const twoSockets = await clients(two.origin, 3, two.server);
      writeInOneTurn([...oneSockets, ...twoSockets].map((client) => [client, request] as [typeof client, string]));
      const answers = (await Promise.all([...oneSockets, ...twoSockets].map((client) => client.waitFor(1)))).flat();
      expect(new Set(tracked.seen).size, 'one batch').toBe(1);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401, 401, 401, 401, 401]);
      expect(answers.filter((answer) => answer.status === 401).map((answer) => answer.body.code)).toEqual(
        Array(5).fill('nonce_replayed'),
      );
    });

    it('three keys and three bodies interleaved on sockets and pipelined in one batch: each answer has its own identity and body', async () => {
      const tracked = batchesOf(plainKeys);
      const { origin, server } = await app({ keys: tracked.keys, nonceStore: memoryNonceStore() });
      const order = [keys.a, keys.b, keys.c, keys.b, keys.a, keys.c, keys.c, keys.a, keys.b];
      const requests = await Promise.all(
        order.map((key, index) =>
          rawRequest(
            origin,
            { method: 'POST', path: '/echo', headers: json, body: JSON.stringify({ index, key: key.keyId }) },
            signing(key),
          ),
        ),
      );
      const sockets = await clients(origin, 3, server);
      // Socket i carries requests i, i+3, i+6 pipelined in one write.
      writeInOneTurn(
        sockets.map((client, socket) => [client, [0, 3, 6].map((offset) => requests[socket + offset]).join('')]),
      );
      const answers = await Promise.all(sockets.map((client) => client.waitFor(3)));
      expect(new Set(tracked.seen).size, 'one batch').toBe(1);
      for (const [socket, got] of answers.entries()) {
        expect(got.map((answer) => answer.status)).toEqual([200, 200, 200]);
        for (const [at, answer] of got.entries()) {
          const index = socket + 3 * at;
          expect(answer.body).toEqual({ keyId: order[index]!.keyId, got: { index, key: order[index]!.keyId } });
        }
      }
    });

    it('batch members whose key resolver throws, rejects or never answers, or whose nonce store throws: the others are answered, nothing is thrown out of the batch', async () => {
      const uncaught: unknown[] = [];
      const onUncaught = (error: unknown) => uncaught.push(error);
      process.on('uncaughtException', onUncaught);
      try {
        const tracked = batchesOf((keyId) => {
          if (keyId === keys.throws.keyId) throw new Error('resolver throws');
          if (keyId === keys.rejects.keyId) return Promise.reject(new Error('resolver rejects'));
          if (keyId === keys.hangs.keyId) return new Promise<never>(() => {});
          return plainKeys(keyId);
        });
        const memory = memoryNonceStore();
        const nonceStore: NonceStore = {
          checkAndStore(keyId, nonce, ttl, epoch) {
            if (keyId === keys.store.keyId) throw new Error('store throws');
            return memory.checkAndStore(keyId, nonce, ttl, epoch);
          },
        };
        const { origin, server } = await app({ keys: tracked.keys, nonceStore });
        const order = [keys.throws, keys.a, keys.rejects, keys.hangs, keys.store, keys.b];
        const requests = await Promise.all(
          order.map((key) => rawRequest(origin, { method: 'GET', path: '/whoami' }, signing(key))),
        );
        const sockets = await clients(origin, order.length, server);
        writeInOneTurn(sockets.map((client, index) => [client, requests[index]!]));
        const answers = await Promise.all(
          sockets.map((client, index) => client.waitFor(1, order[index] === keys.hangs ? 300 : 5000)),
        );
        expect(new Set(tracked.seen).size, 'one batch').toBe(1);
        const statuses = answers.map((got) => got[0]?.status);
        // A resolver's or a store's plain Error is an outage: 503 store_unavailable (storeFailure), not a 500.
        expect(statuses).toEqual([503, 200, 503, undefined, 503, 200]);
        expect(answers[1]![0]!.body).toEqual({ keyId: keys.a.keyId });
        expect(answers[5]![0]!.body).toEqual({ keyId: keys.b.keyId });
        // Let a rethrow from the batch's own setImmediate happen, if any.
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(uncaught).toEqual([]);
        // The request whose key never resolves still waits: its client gives up.
        for (const client of sockets) client.socket.destroy();
      } finally {
        process.off('uncaughtException', onUncaught);
      }
    });
  });
}
