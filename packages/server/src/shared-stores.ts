import { isPromiseLike, StoreUnavailable } from '@hmac-kit/core';
import { NonceStoreFull, recommendedRedisOptions } from '@hmac-kit/limits';
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
/** A store's number on the compact wire (see {@link StoreCalls}). */
const STORE_INDEX = new Map(STORE_NAMES.map((name, index) => [name, index]));

/** The optional synchronous capabilities of the limits contracts (`checkAndStoreNow`, `hitNow`, `blockedForNow`, ...). */
const SYNCHRONOUS_CAPABILITY = /Now$/;

/** What the supervisor tells a worker about its stores: the methods each one has. */
export interface SharedStoresDescription {
  methods: Record<StoreName, string[]>;
  /** The nonce store's `epoch()` when it has one (memory: the supervisor's start). */
  nonceEpoch?: number;
}

/** One store operation a worker asks of the supervisor. */
export interface StoreCall {
  id: number;
  store: StoreName;
  method: string;
  args: unknown[];
}

/** The answer to one {@link StoreCall}: its value, or the error it threw (rebuilt by the worker). */
export type StoreResult = { id: number; value: unknown } | { id: number; error: StoreError };

/** An error thrown by a shared store, as sent to a worker (`reason`: a `NonceStoreFull`'s). */
interface StoreError {
  name: string;
  code?: string;
  message: string;
  reason?: string;
}

/**
 * Messages on the IPC channel; `hk` keeps them apart from Node's and prom-client's own. A worker
 * sends the calls its requests made during one event-loop turn in one message (see
 * `supervisorLimitStores`); the supervisor runs them in the order of the array, each as it ran
 * alone, and answers them all in one message. `nonceEpoch`: the nonce store's epoch after them.
 *
 * The compact wire (`json`): the channel's 'advanced' serialization rebuilds every object of a
 * message property by property (V8's ValueDeserializer: a map transition and a hashed key per
 * property, ~40% of the supervisor's instructions per request with four calls per request), so a
 * batch whose every argument is a string, a boolean or a finite number goes as one JSON string
 * instead, `[id, store index, method, args, id, ...]`, and the answers whose value JSON carries
 * exactly (see {@link jsonExact}) as `[id, value, id, value, ...]`; the rest (errors, `undefined`,
 * anything else) stay in `calls` / `results`, objects as before. Either side reads both.
 */
export type StoreCalls = { hk: 'store-calls'; calls: StoreCall[]; json?: string };
export type StoreResults = { hk: 'store-results'; results: StoreResult[]; json?: string; nonceEpoch?: number };

/** A primitive that JSON gives back as it was: a string, a boolean, a finite number other than -0. */
function jsonExactPrimitive(value: unknown): boolean {
  const type = typeof value;
  if (type === 'string' || type === 'boolean') return true;
  return type === 'number' && Number.isFinite(value) && !Object.is(value, -0);
}

/**
 * Whether `JSON.parse(JSON.stringify(value))` is `value` again, as the channel's structured clone
 * would give it: a {@link jsonExactPrimitive}, or a plain object of them (a rate-limit decision).
 * Not `undefined` (JSON drops it, or makes it null), NaN or Infinity (null), -0 (0), nor any
 * other object.
 */
export function jsonExact(value: unknown): boolean {
  if (jsonExactPrimitive(value)) return true;
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key) || !jsonExactPrimitive((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** The calls of a batch in the compact form, or undefined when an argument is not JSON-exact. */
function compactCalls(calls: readonly StoreCall[]): string | undefined {
  const flat: unknown[] = [];
  for (const { id, store, method, args } of calls) {
    for (const arg of args) if (!jsonExactPrimitive(arg)) return undefined;
    flat.push(id, STORE_INDEX.get(store), method, args);
  }
  return JSON.stringify(flat);
}

/**
 * The answers of a {@link StoreResults} message, compact ones included, as {@link StoreResult}s.
 * Malformed compact answers are dropped (their calls stay pending until the channel closes).
 */
export function storeResultsOf(message: StoreResults): StoreResult[] {
  const results = Array.isArray(message.results) ? [...message.results] : [];
  if (typeof message.json === 'string') {
    let flat: unknown;
    try {
      flat = JSON.parse(message.json);
    } catch {
      flat = undefined;
    }
    if (Array.isArray(flat)) {
      for (let index = 0; index + 1 < flat.length; index += 2) {
        const id = flat[index];
        if (typeof id === 'number') results.push({ id, value: flat[index + 1] });
      }
    }
  }
  return results;
}

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
      // `size` (the memory nonce store's count) is read by the supervisor's own metrics, not by workers.
      if (name === 'constructor' || name === 'epoch' || name === 'size' || SYNCHRONOUS_CAPABILITY.test(name)) continue;
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
  /** Answers one message if it is a batch of store calls (returns false otherwise). */
  handle(message: unknown, reply: (results: StoreResults) => void): boolean;
} {
  const methods = {} as Record<StoreName, string[]>;
  for (const name of STORE_NAMES) methods[name] = forwardedMethods(stores[name]);
  const allowed = new Map(STORE_NAMES.map((name) => [name, new Set(methods[name])]));
  /**
   * Per store and method, the function a call runs: the method's synchronous capability
   * (`checkAndStore` -> `checkAndStoreNow`, `hit` -> `hitNow`, the throttle's `*Now`) when the store
   * has one, since by contract it is the same operation answered without a promise (the memory
   * stores' promise methods wrap the very same function); else the method itself.
   */
  const runners = new Map<string, { fn: (...args: unknown[]) => unknown; store: object }>();
  for (const name of STORE_NAMES) {
    const target = stores[name] as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of methods[name]) {
      const now = target[`${method}Now`];
      runners.set(`${name}.${method}`, {
        fn: typeof now === 'function' ? now : (target[method] as (...args: unknown[]) => unknown),
        store: target,
      });
    }
  }
  const failure = (id: number, error: unknown): StoreResult => ({
    id,
    error: {
      name: (error as Error)?.name ?? 'Error',
      code: (error as { code?: string })?.code,
      message: (error as Error)?.message ?? String(error),
      ...(error instanceof NonceStoreFull ? { reason: error.reason } : {}),
    },
  });
  /**
   * Runs one call, now: its result, or a promise of it when the store answered with one (a method
   * without a synchronous capability). A synchronous throw is the call's error, as a rejection is.
   */
  const run = (id: unknown, store: unknown, method: unknown, args: unknown): StoreResult | Promise<StoreResult> => {
    if (
      typeof id !== 'number' ||
      typeof method !== 'string' ||
      !allowed.get(store as StoreName)?.has(method) ||
      !Array.isArray(args)
    ) {
      return {
        id: typeof id === 'number' ? id : -1,
        error: { name: 'TypeError', message: `no such store method ${String(store)}.${String(method)}` },
      };
    }
    const runner = runners.get(`${store as StoreName}.${method}`)!;
    let value: unknown;
    try {
      value = runner.fn.apply(runner.store, args);
    } catch (error) {
      return failure(id, error);
    }
    if (!isPromiseLike(value)) return { id, value };
    return Promise.resolve(value).then(
      (settled): StoreResult => ({ id, value: settled }),
      (error: unknown) => failure(id, error),
    );
  };
  return {
    description: { methods, nonceEpoch: epochOf(stores.nonceStore) },
    handle(message, reply) {
      const batch = message as Partial<StoreCalls> | null;
      if (batch?.hk !== 'store-calls') return false;
      const calls = Array.isArray(batch.calls) ? batch.calls : [];
      let flat: unknown[] = [];
      if (typeof batch.json === 'string') {
        try {
          const parsed: unknown = JSON.parse(batch.json);
          if (Array.isArray(parsed)) flat = parsed;
        } catch {
          // Not from a worker of this supervisor: its calls have no ids to answer.
        }
      }
      // Run now, in the order of the array (the compact calls after the others; a worker sends one
      // form or the other), each to its end before the next starts (the memory stores answer
      // synchronously, so every call is atomic and they run in order), and answered in this turn:
      // no promise per call, unless a store answered one (then the reply waits for it).
      const results: Array<StoreResult | Promise<StoreResult>> = [];
      let pending = false;
      for (const call of calls) {
        const { id, store, method, args } = (call ?? {}) as Partial<StoreCall>;
        const result = run(id, store, method, args);
        if (result instanceof Promise) pending = true;
        results.push(result);
      }
      for (let index = 0; index < flat.length; index += 4) {
        const store = flat[index + 1];
        const result = run(
          flat[index],
          typeof store === 'number' ? STORE_NAMES[store] : undefined,
          flat[index + 2],
          flat[index + 3],
        );
        if (result instanceof Promise) pending = true;
        results.push(result);
      }
      const answer = (settled: StoreResult[]) => {
        const values: unknown[] = [];
        const others: StoreResult[] = [];
        for (const result of settled) {
          if ('value' in result && jsonExact(result.value)) values.push(result.id, result.value);
          else others.push(result);
        }
        const epoch = epochOf(stores.nonceStore);
        reply({
          hk: 'store-results',
          results: others,
          ...(values.length > 0 ? { json: JSON.stringify(values) } : {}),
          ...(epoch !== undefined ? { nonceEpoch: epoch } : {}),
        });
      };
      if (pending) Promise.all(results).then(answer);
      else answer(results as StoreResult[]);
      return true;
    },
  };
}

/** The IPC channel of a worker process (`process` in a cluster worker). */
export interface WorkerChannel {
  send(message: StoreCalls, callback: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

/**
 * Worker side: stores whose every call is answered by the supervisor. Fails closed: a call the
 * supervisor cannot answer (channel gone) rejects with `StoreUnavailable`, like a Redis outage, and
 * so does a call it has not answered within `timeoutMs` (default 1000, the bound every Redis command
 * has, `recommendedRedisOptions.commandTimeout`): a supervisor connected but stalled (a busy event
 * loop, SIGSTOP) never answers, and the request would hang instead of answering 503. An answer
 * that comes after the deadline finds no pending call and is ignored.
 *
 * @example
 * ```ts
 * const stores = supervisorLimitStores(process, description);
 * await startServer(config, { limitStores: stores });
 * ```
 */
export function supervisorLimitStores(
  channel: WorkerChannel,
  description: SharedStoresDescription,
  timeoutMs: number = recommendedRedisOptions.commandTimeout,
): LimitStores {
  /**
   * A batch on its way: its deadline and how many of its calls still wait for an answer. The
   * timer is cleared when the last one is answered; left to run out, it held a live timer per batch
   * of the last `timeoutMs` (thousands under load; test/adversarial/review15-ipc-deadline-timers).
   */
  interface Batch {
    waiting: number;
    timer: NodeJS.Timeout | undefined;
  }
  const pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: unknown): void; batch: Batch | undefined }
  >();
  /** Takes call `id` out of `pending` (undefined when it is not there: answered, failed, unknown). */
  const settle = (id: number) => {
    const call = pending.get(id);
    if (!call) return undefined;
    pending.delete(id);
    const batch = call.batch;
    if (batch && --batch.waiting === 0) clearTimeout(batch.timer);
    return call;
  };
  let nextId = 0;
  let nonceEpoch = description.nonceEpoch;
  let connected = true;
  /**
   * The calls of this event-loop turn, sent together once the turn's I/O callbacks have run
   * (setImmediate): under load, every request read in one turn shares one message and one answer,
   * instead of a message each way per call (each a serialization, a write(2) and a wake-up of the
   * other process: most of the CPU of `--workers 2`). A call still waits for its own answer before
   * the request goes on, so the order of each request's operations (gate, then nonce, then commit)
   * is unchanged; calls of different requests were never ordered.
   */
  let queued: StoreCall[] = [];

  const rebuild = (error: StoreError): Error => {
    // The supervisor's memory nonce store refusing for being full: its episode is the supervisor's
    // log line, so the worker must still tell it from an outage (services.ts, reportFailure).
    if (error.name === 'NonceStoreFull' && error.code === StoreUnavailable.code) {
      return new NonceStoreFull(error.message, error.reason === 'memory' ? 'memory' : 'capacity');
    }
    if (error.code === StoreUnavailable.code) return new StoreUnavailable(error.message);
    if (error.name === 'TypeError') return new TypeError(error.message);
    return Object.assign(new Error(error.message), { name: error.name, code: error.code });
  };
  channel.on('message', (message) => {
    const answer = message as StoreResults | null;
    if (answer?.hk !== 'store-results' || !Array.isArray(answer.results)) return;
    if (answer.nonceEpoch !== undefined) nonceEpoch = answer.nonceEpoch;
    for (const result of answer.results) {
      const call = settle(result.id);
      if (!call) continue;
      if ('error' in result) call.reject(rebuild(result.error));
      else call.resolve(result.value);
    }
    if (typeof answer.json !== 'string') return;
    // The compact answers, read as storeResultsOf reads them, without an object per answer.
    let flat: unknown;
    try {
      flat = JSON.parse(answer.json);
    } catch {
      return;
    }
    if (!Array.isArray(flat)) return;
    for (let index = 0; index + 1 < flat.length; index += 2) {
      const call = settle(flat[index] as number);
      if (!call) continue;
      call.resolve(flat[index + 1]);
    }
  });
  channel.on('disconnect', () => {
    connected = false;
    for (const id of [...pending.keys()]) settle(id)?.reject(new StoreUnavailable('supervisor unreachable'));
    queued = [];
  });

  /** Fails the calls of `calls` still pending (the others were answered: their ids are gone). */
  const fail = (calls: readonly StoreCall[], error: () => StoreUnavailable) => {
    for (const { id } of calls) settle(id)?.reject(error());
  };
  /**
   * The batch's deadline: one timer per message, not per call (unref'd: it keeps no worker alive),
   * cleared when the batch is answered (see `settle`).
   */
  const expire = (calls: readonly StoreCall[]) =>
    fail(calls, () => new StoreUnavailable(`supervisor did not answer within ${timeoutMs} ms`));
  const flush = () => {
    const calls = queued;
    queued = [];
    if (calls.length === 0) return;
    if (!connected) {
      // The 'disconnect' listener has already failed every pending call.
      return;
    }
    const failed = (error: unknown) =>
      fail(calls, () => new StoreUnavailable('supervisor unreachable', { cause: error }));
    const batch: Batch = { waiting: 0, timer: undefined };
    for (const { id } of calls) {
      const call = pending.get(id);
      if (call) {
        call.batch = batch;
        batch.waiting++;
      }
    }
    batch.timer = setTimeout(expire, timeoutMs, calls).unref();
    // A message the channel cannot serialize throws here, in a setImmediate callback: unguarded, it
    // was an uncaught exception (the worker gone) and every call of the batch waited forever.
    // (When each call sent its own message, the throw rejected that call alone.)
    try {
      const json = compactCalls(calls);
      const message: StoreCalls =
        json === undefined ? { hk: 'store-calls', calls } : { hk: 'store-calls', calls: [], json };
      channel.send(message, (error) => {
        if (error) failed(error);
      });
    } catch (error) {
      failed(error);
    }
  };
  const invoke = (store: StoreName, method: string, args: unknown[]): Promise<unknown> => {
    if (!connected) return Promise.reject(new StoreUnavailable('supervisor unreachable'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, batch: undefined });
      if (queued.push({ id, store, method, args }) === 1) setImmediate(flush);
    });
  };
  const proxy = (store: StoreName) => {
    const object: Record<string, unknown> = {};
    for (const method of description.methods[store]) {
      // Never a synchronous capability, even should a supervisor list one (see forwardedMethods).
      if (SYNCHRONOUS_CAPABILITY.test(method)) continue;
      object[method] = (...args: unknown[]) => invoke(store, method, args);
    }
    // Synchronous by contract: the last value the supervisor sent (at start, then with every answer).
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
