import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryFailureThrottle, memoryNonceStore } from '@hmac-kit/limits';
import {
  defaultWorkerCount,
  type LimitStores,
  memoryLimitStores,
  shareLimitStores,
  supervisorLimitStores,
} from '@hmac-kit/server';
import { describe, expect, it } from 'vitest';
import { describeFailureThrottleConformance } from '../../../test-support/conformance/failure-throttle.js';
import { describeNonceStoreConformance } from '../../../test-support/conformance/nonce-store.js';
import { describeRateLimiterConformance } from '../../../test-support/conformance/rate-limiter.js';

/**
 * A supervisor and its workers in one process: messages are structured-cloned (as the cluster
 * channel's 'advanced' serialization does) and delivered on a later turn, never synchronously.
 */
function supervisorWith(stores: LimitStores) {
  const shared = shareLimitStores(stores);
  const channels: Array<EventEmitter & { disconnect(): void }> = [];
  return {
    worker(): LimitStores {
      const channel = Object.assign(new EventEmitter(), {
        send(message: unknown, callback: (error: Error | null) => void) {
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
