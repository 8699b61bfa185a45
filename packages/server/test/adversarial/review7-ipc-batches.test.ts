/**
 * Review (session 7) of `serve --workers` sending the store calls of one event-loop turn in one IPC
 * message (01f6199). The worker side is driven here over a channel the test controls: which batch
 * the supervisor answers first, in what order the results of a batch come back, answers that come
 * late (after the channel broke) or twice, a batch the channel cannot even serialize, and a worker
 * that dies with its batch pending. Through a real `hmac-kit serve --workers 2`: one signed request
 * pipelined hundreds of times over several connections (so that the copies share batches), accepted once.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryFailureThrottle } from '@hmac-kit/limits';
import { type LimitStores, memoryLimitStores, shareLimitStores, supervisorLimitStores } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, signed } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { storeResultsOf } from '../../src/shared-stores.js';
import { pipelinedExchange } from '../support/pipelined.js';

/** A worker's batch of store calls, and the supervisor's answer to one (the channel's messages). */
type StoreCalls = Parameters<Parameters<typeof supervisorLimitStores>[0]['send']>[0];
type StoreResults = Parameters<Parameters<ReturnType<typeof shareLimitStores>['handle']>[1]>[0];

/**
 * A worker's stores over a channel that holds every batch until the test answers it: `answer(i)`
 * has the supervisor run batch `i` now and returns its reply, which `deliver` hands to the worker.
 */
function heldWorker(shared: ReturnType<typeof shareLimitStores>) {
  const batches: Array<{ message: StoreCalls; callback: (error: Error | null) => void }> = [];
  const channel = Object.assign(new EventEmitter(), {
    send(message: StoreCalls, callback: (error: Error | null) => void) {
      batches.push({ message: structuredClone(message), callback });
      return true;
    },
  });
  const stores = supervisorLimitStores(channel, structuredClone(shared.description));
  return {
    stores,
    batches,
    async answer(index: number): Promise<StoreResults> {
      const batch = batches[index]!;
      batch.callback(null);
      let reply: StoreResults | undefined;
      expect(shared.handle(batch.message, (results) => (reply = structuredClone(results)))).toBe(true);
      await vi.waitFor(() => expect(reply).toBeDefined());
      return reply!;
    },
    deliver(reply: StoreResults) {
      channel.emit('message', reply);
    },
    disconnect() {
      channel.emit('disconnect');
    },
  };
}

/** Resolves once the worker has sent `count` batches (they leave on the turn after the calls). */
async function sent(worker: { batches: unknown[] }, count: number) {
  await vi.waitFor(() => expect(worker.batches).toHaveLength(count));
}

describe('adversarial (review 7): batched store calls of a worker', () => {
  it('hands every answer to the call that made it, whichever batch comes back first and in whatever order', async () => {
    const shared = shareLimitStores(memoryLimitStores());
    const worker = heldWorker(shared);
    const first = [
      worker.stores.nonceStore.checkAndStore('hk_a', 'n-1', 60),
      worker.stores.rateLimiter.hit('key:hk_a', 2, 60),
      worker.stores.failureThrottle.blockedFor('addr:192.0.2.1'),
    ];
    await sent(worker, 1);
    const second = [
      worker.stores.nonceStore.checkAndStore('hk_a', 'n-1', 60),
      worker.stores.rateLimiter.hit('key:hk_a', 2, 60),
      worker.stores.rateLimiter.hit('key:hk_a', 2, 60),
      worker.stores.failureThrottle.recordFailure('addr:192.0.2.1'),
    ];
    await sent(worker, 2);
    // The supervisor runs them in the order sent; the answers come back the other way round, each
    // with its results reversed.
    const [one, two] = [await worker.answer(0), await worker.answer(1)];
    // (Compact answers decoded first: `storeResultsOf`, as the worker reads them.)
    worker.deliver({ hk: 'store-results', results: storeResultsOf(two).reverse(), nonceEpoch: two.nonceEpoch });
    worker.deliver({ hk: 'store-results', results: storeResultsOf(one).reverse(), nonceEpoch: one.nonceEpoch });
    expect(await Promise.all(first)).toEqual([true, expect.objectContaining({ allowed: true, remaining: 1 }), 0]);
    expect(await Promise.all(second)).toEqual([
      false,
      expect.objectContaining({ allowed: true, remaining: 0 }),
      expect.objectContaining({ allowed: false }),
      0,
    ]);
  });

  it('runs a batch in the order of its calls: a replay after the record, a lookup after the failures', async () => {
    const shared = shareLimitStores({
      ...memoryLimitStores(),
      failureThrottle: memoryFailureThrottle({ maxFailures: 3, freeFailures: 2 }),
    });
    const worker = heldWorker(shared);
    const throttle = worker.stores.failureThrottle;
    const nonces = worker.stores.nonceStore as LimitStores['nonceStore'] & {
      release(k: string, n: string): Promise<void>;
    };
    const calls = [
      throttle.blockedFor('addr:192.0.2.2'),
      nonces.checkAndStore('hk_a', 'n-2', 60),
      nonces.checkAndStore('hk_a', 'n-2', 60),
      // A reservation given back (a body that failed): the genuine request after it is fresh.
      nonces.release('hk_a', 'n-2'),
      nonces.checkAndStore('hk_a', 'n-2', 60),
      throttle.recordFailure('addr:192.0.2.2'),
      throttle.recordFailure('addr:192.0.2.2'),
      throttle.recordFailure('addr:192.0.2.2'),
      throttle.blockedFor('addr:192.0.2.2'),
    ];
    await sent(worker, 1);
    const sentBatch = worker.batches[0]!.message;
    // Every argument is a string or a number: the compact form, 4 entries per call.
    expect(sentBatch.calls).toHaveLength(0);
    expect(JSON.parse(sentBatch.json!)).toHaveLength(calls.length * 4);
    worker.deliver(await worker.answer(0));
    const answers = await Promise.all(calls);
    expect(answers.slice(0, 5)).toEqual([0, true, false, undefined, true]);
    expect(answers[8]).toBeGreaterThan(0);
  });

  it('ignores an answer that comes after the channel broke, and one that comes twice', async () => {
    const shared = shareLimitStores(memoryLimitStores());
    const worker = heldWorker(shared);
    const pending = worker.stores.nonceStore.checkAndStore('hk_a', 'n-3', 60);
    await sent(worker, 1);
    const reply = await worker.answer(0);
    // The channel breaks before the answer arrives: fail closed, although the supervisor recorded it.
    worker.disconnect();
    await expect(pending).rejects.toBeInstanceOf(StoreUnavailable);
    worker.deliver(reply);
    await expect(worker.stores.nonceStore.checkAndStore('hk_a', 'n-4', 60)).rejects.toBeInstanceOf(StoreUnavailable);

    // A duplicated answer cannot settle a later call: ids are never reused.
    const other = heldWorker(shared);
    const answered = other.stores.nonceStore.checkAndStore('hk_a', 'n-5', 60);
    await sent(other, 1);
    const firstReply = await other.answer(0);
    other.deliver(firstReply);
    expect(await answered).toBe(true);
    const later = other.stores.nonceStore.checkAndStore('hk_a', 'n-5', 60);
    await sent(other, 2);
    other.deliver(firstReply);
    let settled = false;
    later.finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    other.deliver(await other.answer(1));
    expect(await later).toBe(false);
  });

  it('keeps a nonce recorded for a worker that died with its batch pending (a restarted worker sees the replay)', async () => {
    const shared = shareLimitStores(memoryLimitStores());
    const dying = heldWorker(shared);
    const pending = dying.stores.nonceStore.checkAndStore('hk_a', 'n-6', 60);
    await sent(dying, 1);
    await dying.answer(0);
    dying.disconnect();
    await expect(pending).rejects.toBeInstanceOf(StoreUnavailable);
    const restarted = heldWorker(shared);
    const replay = restarted.stores.nonceStore.checkAndStore('hk_a', 'n-6', 60);
    await sent(restarted, 1);
    restarted.deliver(await restarted.answer(0));
    expect(await replay).toBe(false);
  });

  it('fails a batch the channel cannot serialize closed (StoreUnavailable), without an uncaught exception', async () => {
    const shared = shareLimitStores(memoryLimitStores());
    const channel = Object.assign(new EventEmitter(), {
      send(message: StoreCalls) {
        // What 'advanced' serialization throws, synchronously, for a value it cannot clone.
        structuredClone({ ...message, unclonable: () => undefined });
        return true;
      },
    });
    const worker = supervisorLimitStores(channel, structuredClone(shared.description));
    const uncaught: unknown[] = [];
    const listener = (error: unknown) => uncaught.push(error);
    process.prependListener('uncaughtException', listener);
    try {
      const answers = await Promise.allSettled([
        worker.nonceStore.checkAndStore('hk_a', 'n-7', 60),
        worker.rateLimiter.hit('key:hk_a', 5, 60),
      ]);
      for (const answer of answers) {
        expect(answer.status === 'rejected' && answer.reason).toBeInstanceOf(StoreUnavailable);
      }
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', listener);
    }
  });
});

describe('adversarial (review 7): one signed request pipelined to both workers of `serve --workers 2`', () => {
  let server: ServeProcess;
  let key: IssuedKey;
  let limited: IssuedKey;
  const origin = 'https://api.example.com';

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'svc');
    limited = await createKeyWithCli(db, 'limited', ['--rate-limit', '7/1h']);
    server = await startServe(['--db', db, '--workers', '2', '--public-origin', origin], { cwd: dir });
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** A forward-auth check of `request`, from an address of its own (replays are failures), with a request id. */
  const verify = (request: { init: { headers: Record<string, string> } }) => ({
    path: '/verify',
    headers: {
      ...request.init.headers,
      'x-original-method': 'GET',
      'x-original-uri': '/items',
      'x-forwarded-for': freshAddress(),
      'x-request-id': randomUUID(),
    },
  });

  /** The workers that answered `checks` (from the access log's `worker` field). */
  async function workersOf(checks: ReadonlyArray<{ headers: Record<string, string> }>): Promise<Set<unknown>> {
    const ids = new Set(checks.map((check) => check.headers['x-request-id']));
    const lines = () => server.logs.filter((line) => line.msg === 'request' && ids.has(line.reqId as string));
    await until(() => lines().length === ids.size);
    return new Set(lines().map((line) => line.worker));
  }

  it('accepts it exactly once, the copies sharing batches and both workers', async () => {
    const request = await signed(key, 'GET', `${origin}/items`);
    const url = new URL(server.url);
    // Many copies per connection, in one write: a worker reads them in one turn, so their store
    // calls travel together; connections are dealt to the workers in turn.
    const connections = Array.from({ length: 8 }, () => Array.from({ length: 25 }, () => verify(request)));
    const answers = (await Promise.all(connections.map((checks) => pipelinedExchange(url, checks)))).flat();
    const accepted = answers.filter((answer) => answer.status === 200);
    expect(accepted).toHaveLength(1);
    expect(new Set(answers.filter((answer) => answer.status !== 200).map((answer) => answer.code))).toEqual(
      new Set(['nonce_replayed']),
    );
    // The 200 (bd4ae88: one literal, the rate limit's fields added after it): our identity headers,
    // and the rate limit the supervisor decided, for the proxy to pass on.
    expect(accepted[0]?.headers).toMatchObject({
      'x-authenticated-key-id': key.keyId,
      'x-authenticated-principal': 'svc',
      'x-authenticated-scheme': 'rfc9421',
      'content-length': '0',
      'cache-control': 'no-store',
      // The key's first accepted request under the default 600/1m: one used, the replays charged nothing.
      ratelimit: expect.stringMatching(/^"default";r=599;t=\d+$/),
      'ratelimit-policy': '"default";q=600;w=60',
    });
    expect((await workersOf(connections.flat())).size).toBe(2);
  });

  it('admits exactly the rate limit of requests pipelined to both workers at once', async () => {
    const requests = await Promise.all(Array.from({ length: 30 }, () => signed(limited, 'GET', `${origin}/items`)));
    const url = new URL(server.url);
    const connections = [0, 1, 2, 3, 4, 5].map((connection) =>
      requests.filter((_, index) => index % 6 === connection).map(verify),
    );
    const answers = (await Promise.all(connections.map((checks) => pipelinedExchange(url, checks)))).flat();
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(7);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(23);
    expect((await workersOf(connections.flat())).size).toBe(2);
  });
});
