import { StoreUnavailable } from '@hmac-kit/core';
import type { LimitStores } from './services.js';

/**
 * Workers of one supervisor without Redis share the supervisor's memory stores: every nonce,
 * rate-limit and throttle operation is a call over the cluster IPC channel to the one process that
 * holds them, so a request replayed to another worker is still seen as a replay. The calls are
 * answered one at a time by the supervisor's event loop, which is what makes `checkAndStore` atomic
 * across workers.
 */

type StoreName = keyof LimitStores;
const STORE_NAMES: readonly StoreName[] = [
  'nonceStore',
  'rateLimiter',
  'failureThrottle',
  'loginThrottle',
  'consoleSessions',
];

/** The optional synchronous capabilities of the limits contracts (`checkAndStoreNow`, `hitNow`, `blockedForNow`, ...). */
const SYNCHRONOUS_CAPABILITY = /Now$/;

/** What the supervisor tells a worker about its stores: the methods each one has. */
export interface SharedStoresDescription {
  methods: Record<StoreName, string[]>;
  /** The nonce store's `epoch()` when it has one (memory: the supervisor's start). */
  nonceEpoch?: number;
}

/** Messages on the IPC channel; `hk` keeps them apart from Node's and prom-client's own. */
export type StoreCall = { hk: 'store-call'; id: number; store: StoreName; method: string; args: unknown[] };
export type StoreResult =
  | { hk: 'store-result'; id: number; value: unknown; nonceEpoch?: number }
  | { hk: 'store-result'; id: number; error: { name: string; code?: string; message: string } };

/**
 * A store method the IPC proxy forwards: every function but the synchronous `epoch()`, answered
 * locally, and the synchronous capabilities (`checkAndStoreNow`, `hitNow`, the throttle's `*Now`).
 * An IPC call answers with a promise, and a caller that finds a `*Now` method trusts its answer to
 * be the value itself: a promise there read as "nonce fresh" (a replay accepted on every worker)
 * and as "not blocked" (test/adversarial/review6-ipc-sync-capabilities).
 */
function forwardedMethods(store: object): string[] {
  const names = new Set<string>();
  for (
    let object: object | null = store;
    object && object !== Object.prototype;
    object = Object.getPrototypeOf(object)
  ) {
    for (const name of Object.getOwnPropertyNames(object)) {
      if (name === 'constructor' || name === 'epoch' || SYNCHRONOUS_CAPABILITY.test(name)) continue;
      if (typeof (store as Record<string, unknown>)[name] === 'function') names.add(name);
    }
  }
  return [...names];
}

function epochOf(store: object): number | undefined {
  const epoch = (store as { epoch?: () => number }).epoch;
  return typeof epoch === 'function' ? epoch.call(store) : undefined;
}

/**
 * Supervisor side: describes the stores to workers and answers their calls.
 *
 * @example
 * ```ts
 * const shared = shareLimitStores(memoryLimitStores());
 * cluster.on('message', (worker, message) => shared.handle(message, (reply) => worker.send(reply)));
 * ```
 */
export function shareLimitStores(stores: LimitStores): {
  description: SharedStoresDescription;
  /** Answers one message if it is a store call (returns false otherwise). */
  handle(message: unknown, reply: (result: StoreResult) => void): boolean;
} {
  const methods = {} as Record<StoreName, string[]>;
  for (const name of STORE_NAMES) methods[name] = forwardedMethods(stores[name]);
  const allowed = new Map(STORE_NAMES.map((name) => [name, new Set(methods[name])]));
  return {
    description: { methods, nonceEpoch: epochOf(stores.nonceStore) },
    handle(message, reply) {
      const call = message as Partial<StoreCall> | null;
      if (call?.hk !== 'store-call' || typeof call.id !== 'number') return false;
      const id = call.id;
      const store = call.store as StoreName;
      const method = String(call.method);
      if (!allowed.get(store)?.has(method) || !Array.isArray(call.args)) {
        reply({
          hk: 'store-result',
          id,
          error: { name: 'TypeError', message: `no such store method ${store}.${method}` },
        });
        return true;
      }
      const target = stores[store] as unknown as Record<string, (...args: unknown[]) => unknown>;
      Promise.resolve()
        .then(() => target[method]?.(...(call.args as unknown[])))
        .then(
          (value) =>
            reply({
              hk: 'store-result',
              id,
              value,
              ...(store === 'nonceStore' ? { nonceEpoch: epochOf(stores.nonceStore) } : {}),
            }),
          (error: unknown) =>
            reply({
              hk: 'store-result',
              id,
              error: {
                name: (error as Error)?.name ?? 'Error',
                code: (error as { code?: string })?.code,
                message: (error as Error)?.message ?? String(error),
              },
            }),
        );
      return true;
    },
  };
}

/** The IPC channel of a worker process (`process` in a cluster worker). */
export interface WorkerChannel {
  send(message: StoreCall, callback: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

/**
 * Worker side: stores whose every call is answered by the supervisor. Fails closed: a call the
 * supervisor cannot answer (channel gone) rejects with `StoreUnavailable`, like a Redis outage.
 *
 * @example
 * ```ts
 * const stores = supervisorLimitStores(process, description);
 * await startServer(config, { limitStores: stores });
 * ```
 */
export function supervisorLimitStores(channel: WorkerChannel, description: SharedStoresDescription): LimitStores {
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  let nextId = 0;
  let nonceEpoch = description.nonceEpoch;
  let connected = true;

  const rebuild = (error: { name: string; code?: string; message: string }): Error => {
    if (error.code === StoreUnavailable.code) return new StoreUnavailable(error.message);
    if (error.name === 'TypeError') return new TypeError(error.message);
    return Object.assign(new Error(error.message), { name: error.name, code: error.code });
  };
  channel.on('message', (message) => {
    const result = message as StoreResult | null;
    if (result?.hk !== 'store-result') return;
    const call = pending.get(result.id);
    if (!call) return;
    pending.delete(result.id);
    if ('error' in result) {
      call.reject(rebuild(result.error));
      return;
    }
    if (result.nonceEpoch !== undefined) nonceEpoch = result.nonceEpoch;
    call.resolve(result.value);
  });
  channel.on('disconnect', () => {
    connected = false;
    for (const call of pending.values()) call.reject(new StoreUnavailable('supervisor unreachable'));
    pending.clear();
  });

  const invoke = (store: StoreName, method: string, args: unknown[]): Promise<unknown> => {
    if (!connected) return Promise.reject(new StoreUnavailable('supervisor unreachable'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      channel.send({ hk: 'store-call', id, store, method, args }, (error) => {
        if (!error) return;
        pending.delete(id);
        reject(new StoreUnavailable('supervisor unreachable', { cause: error }));
      });
    });
  };
  const proxy = (store: StoreName) => {
    const object: Record<string, unknown> = {};
    for (const method of description.methods[store]) {
      // Never a synchronous capability, even should a supervisor list one (see forwardedMethods).
      if (SYNCHRONOUS_CAPABILITY.test(method)) continue;
      object[method] = (...args: unknown[]) => invoke(store, method, args);
    }
    // Synchronous by contract: the last value the supervisor sent (at start, then with every nonce answer).
    if (store === 'nonceStore' && nonceEpoch !== undefined) object.epoch = () => nonceEpoch;
    return object;
  };
  return {
    nonceStore: proxy('nonceStore') as unknown as LimitStores['nonceStore'],
    rateLimiter: proxy('rateLimiter') as unknown as LimitStores['rateLimiter'],
    failureThrottle: proxy('failureThrottle') as unknown as LimitStores['failureThrottle'],
    loginThrottle: proxy('loginThrottle') as unknown as LimitStores['loginThrottle'],
    consoleSessions: proxy('consoleSessions') as unknown as LimitStores['consoleSessions'],
  };
}
