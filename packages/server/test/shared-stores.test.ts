import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryFailureThrottle, memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import {
  defaultWorkerCount,
  type LimitStores,
  memoryLimitStores,
  shareLimitStores,
  supervisorLimitStores,
} from '@hmac-kit/server';
import { describe, expect, it, vi } from 'vitest';
import { resolveKey, signedOrderMessage } from '../../../test-support/adapter-suite.js';
import { describeFailureThrottleConformance } from '../../../test-support/conformance/failure-throttle.js';
import { describeNonceStoreConformance } from '../../../test-support/conformance/nonce-store.js';
import { describeRateLimiterConformance } from '../../../test-support/conformance/rate-limiter.js';
import { type StoreResults, storeResultsOf } from '../src/shared-stores.js';

/**
 * A supervisor and its workers in one process: messages are structured-cloned (as the cluster
 * channel's 'advanced' serialization does) and delivered on a later turn, never synchronously.
 */
function supervisorWith(stores: LimitStores) {
  const shared = shareLimitStores(stores);
  const channels: Array<EventEmitter & { disconnect(): void }> = [];
  const sent: unknown[] = [];
  return {
    /** Every message the workers sent, in order. */
    sent,
    worker(): LimitStores {
      const channel = Object.assign(new EventEmitter(), {
        send(message: unknown, callback: (error: Error | null) => void) {
          sent.push(message);
          const copy = structuredClone(message);
          setImmediate(() => {
            if (!connected) {
              callback(new Error('channel closed'));
              return;
            }
            callback(null);
            shared.handle(copy, (reply) => setImmediate(() => channel.emit('message', structuredClone(reply))));
          });
          return true;
        },
        disconnect() {
          connected = false;
          channel.emit('disconnect');
        },
      });
      let connected = true;
      channels.push(channel);
      return supervisorLimitStores(channel, structuredClone(shared.description));
    },
    disconnectAll() {
      for (const channel of channels) channel.disconnect();
    },
  };
}

// The stores a worker reaches over IPC must behave exactly like the memory ones they front,
// and two workers of one supervisor must share them.
{
  let nonceSupervisor = supervisorWith(memoryLimitStores());
  describeNonceStoreConformance('supervisor memory over IPC', {
    create: () => {
      nonceSupervisor = supervisorWith(memoryLimitStores());
      return nonceSupervisor.worker().nonceStore;
    },
    createSecondInstance: () => nonceSupervisor.worker().nonceStore,
    // The supervisor restarted (its workers with it): a new supervisor with empty memory stores.
    afterLoss: async () => {
      nonceSupervisor = supervisorWith(memoryLimitStores());
      return nonceSupervisor.worker().nonceStore;
    },
  });
  let rateSupervisor = supervisorWith(memoryLimitStores());
  describeRateLimiterConformance('supervisor memory over IPC', {
    create: () => {
      rateSupervisor = supervisorWith(memoryLimitStores());
      return rateSupervisor.worker().rateLimiter;
    },
    createSecondInstance: () => rateSupervisor.worker().rateLimiter,
  });
  let throttleSupervisor = supervisorWith(memoryLimitStores());
  describeFailureThrottleConformance('supervisor memory over IPC', {
    create: (options) => {
      throttleSupervisor = supervisorWith({ ...memoryLimitStores(), failureThrottle: memoryFailureThrottle(options) });
      return throttleSupervisor.worker().failureThrottle;
    },
    createSecondInstance: () => throttleSupervisor.worker().failureThrottle,
  });
}

describe('stores shared by a supervisor', () => {
  it('answers a nonce sent to several workers at once as new exactly once', async () => {
    const supervisor = supervisorWith(memoryLimitStores());
    const workers = Array.from({ length: 8 }, () => supervisor.worker());
    const answers = await Promise.all(workers.map((worker) => worker.nonceStore.checkAndStore('hk_a', 'n-1', 60)));
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it('rebuilds StoreUnavailable thrown by the supervisor store (a full memory store fails closed)', async () => {
    const supervisor = supervisorWith({ ...memoryLimitStores(), nonceStore: memoryNonceStore({ maxEntries: 1 }) });
    const worker = supervisor.worker();
    expect(await worker.nonceStore.checkAndStore('hk_a', 'n-1', 60)).toBe(true);
    await expect(worker.nonceStore.checkAndStore('hk_a', 'n-2', 60)).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(worker.rateLimiter.hit('', 1, 1)).rejects.toBeInstanceOf(TypeError);
  });

  it('fails closed with StoreUnavailable once the supervisor is gone, for calls pending and new', async () => {
    const supervisor = supervisorWith(memoryLimitStores());
    const worker = supervisor.worker();
    const pending = worker.nonceStore.checkAndStore('hk_a', 'n-1', 60);
    supervisor.disconnectAll();
    await expect(pending).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(worker.failureThrottle.blockedFor('addr:1.2.3.4')).rejects.toBeInstanceOf(StoreUnavailable);
  });

  it('forwards exactly the methods the supervisor store has, and answers a synchronous epoch() locally', async () => {
    const startedAt = 1_700_000_000;
    const withEpoch = Object.assign(memoryNonceStore(), {
      epoch: () => startedAt,
      release: async () => undefined,
    });
    const worker = supervisorWith({ ...memoryLimitStores(), nonceStore: withEpoch }).worker();
    const nonceStore = worker.nonceStore as typeof withEpoch;
    expect(nonceStore.epoch()).toBe(startedAt);
    expect(typeof nonceStore.release).toBe('function');
    // No capability the real store lacks (a thenable or an invented method would mislead callers).
    expect('then' in worker.nonceStore).toBe(false);
    // Nor the synchronous capabilities (`hitNow`, ...): an IPC call can only answer with a promise.
    const asynchronous = Object.keys(memoryLimitStores().rateLimiter).filter((name) => !name.endsWith('Now'));
    expect(asynchronous.sort()).toEqual(Object.keys(worker.rateLimiter).sort());
    expect(await nonceStore.checkAndStore('hk_a', 'n', 60)).toBe(true);
    expect(nonceStore.epoch()).toBe(startedAt);
  });
});

// The calls a worker makes in one event-loop turn travel in one message (one answer): what a batch
// holds must never change what a store decides. Two workers racing the same nonce, a rate limit
// and the failure throttle, each with every call of the race in the same turn.
describe('batched calls of the workers of one supervisor', () => {
  it('sends the calls of one turn in one message, and answers each call its own value', async () => {
    const supervisor = supervisorWith(memoryLimitStores());
    const worker = supervisor.worker();
    const answers = await Promise.all([
      worker.nonceStore.checkAndStore('hk_a', 'n-1', 60),
      worker.failureThrottle.blockedFor('addr:192.0.2.1'),
      worker.rateLimiter.hit('key:hk_a', 5, 60),
      worker.nonceStore.checkAndStore('hk_a', 'n-1', 60),
    ]);
    expect(supervisor.sent).toHaveLength(1);
    expect(answers[0]).toBe(true);
    expect(answers[1]).toBe(0);
    expect(answers[2]).toMatchObject({ allowed: true, limit: 5, remaining: 4 });
    // The same nonce twice in one batch: the second is a replay (calls run in the order made).
    expect(answers[3]).toBe(false);
  });

  it('answers a nonce raced by two workers, many times each in one turn, as new exactly once', async () => {
    const supervisor = supervisorWith(memoryLimitStores());
    const [first, second] = [supervisor.worker(), supervisor.worker()];
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        (index % 2 ? first : second).nonceStore.checkAndStore('hk_a', 'raced', 60),
      ),
    );
    expect(answers.filter((fresh) => fresh === true)).toHaveLength(1);
    expect(answers.filter((fresh) => fresh === false)).toHaveLength(39);
  });

  /** One authenticator per worker of one supervisor, each over its worker's IPC store proxies. */
  function authenticatorsOnTwoWorkers(options: { rateLimit: number; throttle?: boolean }) {
    const supervisor = supervisorWith(memoryLimitStores());
    return [supervisor.worker(), supervisor.worker()].map((stores) =>
      createAuthenticator({
        keys: resolveKey,
        crypto: nodeCryptoProvider,
        nonceStore: stores.nonceStore,
        rateLimiter: stores.rateLimiter,
        ...(options.throttle ? { failureThrottle: stores.failureThrottle } : {}),
        defaultRateLimit: { limit: options.rateLimit, windowSeconds: 60 },
      }),
    );
  }

  it('accepts a signed request replayed to both workers at once exactly once', async () => {
    const authenticators = authenticatorsOnTwoWorkers({ rateLimit: 1000, throttle: true });
    const request = await signedOrderMessage();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        authenticators[index % 2]!.authenticate(request.message, request.body, { sourceAddress: '192.0.2.7' }),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(1);
    for (const outcome of outcomes.filter((outcome) => !outcome.ok)) {
      expect((outcome as { error: { code?: string } }).error.code).toBe('ERR_NONCE_REPLAYED');
    }
  });

  it('allows exactly the limit of a rate limit hit by two workers at once', async () => {
    const supervisor = supervisorWith({ ...memoryLimitStores(), rateLimiter: memoryRateLimiter() });
    const [first, second] = [supervisor.worker(), supervisor.worker()];
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, index) => (index % 2 ? first : second).rateLimiter.hit('key:hk_a', 10, 60)),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(10);
  });

  it('refuses rate-limited requests raced by two workers beyond the limit (the authenticator over IPC)', async () => {
    const authenticators = authenticatorsOnTwoWorkers({ rateLimit: 3 });
    const requests = await Promise.all(Array.from({ length: 8 }, () => signedOrderMessage()));
    const outcomes = await Promise.all(
      requests.map((request, index) =>
        authenticators[index % 2]!.authenticate(request.message, request.body, { sourceAddress: '192.0.2.8' }),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(3);
    for (const outcome of outcomes.filter((outcome) => !outcome.ok)) {
      expect((outcome as { error: { code?: string } }).error.code).toBe('ERR_RATE_LIMITED');
    }
  });

  it('blocks a source whose failures two workers record in the same turns, at exactly the count', async () => {
    const supervisor = supervisorWith({
      ...memoryLimitStores(),
      failureThrottle: memoryFailureThrottle({ maxFailures: 6, freeFailures: 5 }),
    });
    const [first, second] = [supervisor.worker(), supervisor.worker()];
    const subject = 'addr:192.0.2.9';
    await Promise.all(
      Array.from({ length: 5 }, (_, index) => (index % 2 ? first : second).failureThrottle.recordFailure(subject)),
    );
    expect(await first.failureThrottle.blockedFor(subject)).toBe(0);
    await second.failureThrottle.recordFailure(subject);
    expect(await first.failureThrottle.blockedFor(subject)).toBeGreaterThan(0);
    expect(await second.failureThrottle.blockedFor(subject)).toBeGreaterThan(0);
  });

  it('keeps a failing call of a batch to itself, and refuses calls that name no store method', async () => {
    const supervisor = supervisorWith({ ...memoryLimitStores(), nonceStore: memoryNonceStore({ maxEntries: 1 }) });
    const worker = supervisor.worker();
    const [filled, full, hit] = await Promise.allSettled([
      worker.nonceStore.checkAndStore('hk_a', 'n-1', 60),
      worker.nonceStore.checkAndStore('hk_a', 'n-2', 60),
      worker.rateLimiter.hit('key:hk_a', 5, 60),
    ]);
    expect(supervisor.sent).toHaveLength(1);
    expect(filled).toEqual({ status: 'fulfilled', value: true });
    expect(full.status === 'rejected' && full.reason).toBeInstanceOf(StoreUnavailable);
    expect(hit).toMatchObject({ status: 'fulfilled', value: { allowed: true } });
    // A worker (or anything else on the channel) cannot reach a method the stores do not list.
    const shared = shareLimitStores(memoryLimitStores());
    const replies: unknown[] = [];
    const calls = [
      { id: 1, store: 'nonceStore', method: 'constructor', args: [] },
      { id: 2, store: 'rateLimiter', method: 'hitNow', args: ['key:x', 1, 1] },
      { id: 3, store: 'nonceStore', method: 'checkAndStore', args: 'not a list' },
      null,
      { id: 5, store: 'nonceStore', method: 'checkAndStore', args: ['hk_a', 'n', 60] },
    ];
    expect(shared.handle({ hk: 'store-calls', calls }, (reply) => replies.push(reply))).toBe(true);
    await vi.waitFor(() => expect(replies).toHaveLength(1));
    const results = storeResultsOf(replies[0] as StoreResults).sort((a, b) => a.id - b.id);
    expect(results.map((result) => ('error' in result ? result.error.name : result.value))).toEqual([
      'TypeError',
      'TypeError',
      'TypeError',
      'TypeError',
      true,
    ]);
  });

  it('fails closed with StoreUnavailable for the calls of a batch the channel could not send', async () => {
    const shared = shareLimitStores(memoryLimitStores());
    const channel = Object.assign(new EventEmitter(), {
      send(_message: unknown, callback: (error: Error | null) => void) {
        setImmediate(() => callback(new Error('channel closed')));
        return false;
      },
    });
    const worker = supervisorLimitStores(channel, structuredClone(shared.description));
    const answers = await Promise.allSettled([
      worker.nonceStore.checkAndStore('hk_a', 'n-1', 60),
      worker.failureThrottle.blockedFor('addr:192.0.2.1'),
    ]);
    for (const answer of answers) {
      expect(answer.status === 'rejected' && answer.reason).toBeInstanceOf(StoreUnavailable);
    }
  });

  it('fails closed with StoreUnavailable when a connected supervisor does not answer in time, and ignores its late answer', async () => {
    const shared = shareLimitStores(memoryLimitStores());
    const held: unknown[] = [];
    let stalled = true;
    const channel = Object.assign(new EventEmitter(), {
      // A stalled supervisor: the message is sent, and nothing answers until the test delivers it.
      send(message: unknown, callback: (error: Error | null) => void) {
        const copy = structuredClone(message);
        if (!stalled) {
          // A supervisor awake again answers before any timer can run (the memory stores answer
          // synchronously, or in a microtask): the 20 ms deadline cannot expire first however loaded
          // the machine is (an answer one setImmediate later missed it once at load 24).
          shared.handle(copy, (reply) => channel.emit('message', structuredClone(reply)));
          setImmediate(() => callback(null));
          return true;
        }
        setImmediate(() => {
          callback(null);
          held.push(copy);
        });
        return true;
      },
    });
    const worker = supervisorLimitStores(channel, structuredClone(shared.description), 20);
    const answers = await Promise.allSettled([
      worker.nonceStore.checkAndStore('hk_a', 'n-1', 60),
      worker.failureThrottle.blockedFor('addr:192.0.2.1'),
    ]);
    for (const answer of answers) {
      expect(answer.status === 'rejected' && answer.reason).toBeInstanceOf(StoreUnavailable);
      expect(answer.status === 'rejected' && (answer.reason as Error).message).toBe(
        'supervisor did not answer within 20 ms',
      );
    }
    // The supervisor wakes up and answers: the expired calls are gone, the answer changes nothing.
    // The message reaches `held` in a setImmediate of send(), itself run from the batch's check-phase
    // callback: on a loaded host the 20 ms deadline can expire (and the calls above settle) in the
    // timers phase before that next check phase, so it is waited for, not assumed.
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const late: unknown[] = [];
    shared.handle(held[0], (reply) => late.push(reply));
    expect(late).toHaveLength(1);
    channel.emit('message', late[0]);
    // Later calls are answered as before.
    stalled = false;
    const next = worker.nonceStore.checkAndStore('hk_a', 'n-2', 60);
    await expect(next).resolves.toBe(true);
  });
});

describe('defaultWorkerCount', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-cgroup-'));
  const cpuMax = (content: string) => {
    const file = join(dir, `cpu.max.${Math.random()}`);
    writeFileSync(file, content);
    return file;
  };

  it('is one per available core without a CPU quota', () => {
    expect(defaultWorkerCount(cpuMax('max 100000\n'))).toBe(availableParallelism());
    expect(defaultWorkerCount(join(dir, 'absent'))).toBe(availableParallelism());
  });

  it('follows a cgroup v2 CPU quota (rounded up), never more than the cores, never less than one', () => {
    expect(defaultWorkerCount(cpuMax('100000 100000\n'))).toBe(1);
    expect(defaultWorkerCount(cpuMax('50000 100000\n'))).toBe(1);
    expect(defaultWorkerCount(cpuMax(`${150000 * 256} 100000\n`))).toBe(availableParallelism());
    if (availableParallelism() >= 2) expect(defaultWorkerCount(cpuMax('150000 100000\n'))).toBe(2);
  });
});
