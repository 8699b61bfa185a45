import cluster, { type Worker } from 'node:cluster';
import { readFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import { inspect } from 'node:util';
import {
  logUpstreamClientFallback,
  logWeakSchemes,
  type RunningServer,
  startServer,
  upstreamClientFor,
} from './app.js';
import type { ServerConfig } from './config.js';
import { createLogger, type Logger, settleLogWrites } from './logger.js';
import { createMetrics, nonceStoreGauges } from './metrics.js';
import { pino } from './pino-runtime.js';
import { AggregatorRegistry, Registry } from './prom-client-runtime.js';
import { memoryLimitStores } from './services.js';
import { type SharedStoresDescription, shareLimitStores, supervisorLimitStores } from './shared-stores.js';
import { openKeys, type StoreInfo } from './store.js';
import { describeUpstreamClient } from './upstream/choose.js';

/**
 * The process model of `hmac-kit serve`: one process, or a supervisor (the cluster primary) and
 * N worker processes sharing the port. The supervisor opens no listener; it prepares the database
 * once (migrations, master key file), forks the workers, restarts one that crashes (with backoff),
 * holds the memory stores the workers share when there is no Redis, aggregates `/metrics`, and
 * passes SIGTERM / SIGINT / SIGHUP on.
 */

/** What the command line prints once the server listens. */
export interface ListeningInfo {
  url: string;
  store: StoreInfo;
  workers: number;
}

/** Hooks of {@link runServe}. */
export interface ServeHooks {
  /** Called once, when the server (every worker) listens. */
  onListening?(info: ListeningInfo): void;
}

/** Exit codes: 0 after a clean shutdown, 1 when the shutdown timeout cut it short. */
const EXIT_FORCED = 1;
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Restart backoff of a crashed worker: 0.5 s doubling up to 30 s; reset after a minute up. */
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;
/** Beyond drain + shutdown timeout, how long workers get to exit before they are killed. */
const EXIT_GRACE_MS = 5_000;
/** After a second SIGTERM/SIGINT, how long workers get to exit on their own before they are killed. */
const FORCE_GRACE_MS = 1_000;
/**
 * How long a worker's death by SIGINT/SIGTERM while the workers start waits for that signal to reach
 * the supervisor as well (a signal to the process group) before it is taken for a failed start.
 */
const GROUP_SIGNAL_GRACE_MS = 2_000;
/**
 * How many times one worker slot is started again while the workers start after a hang-up of the
 * process group ended it (see the 'exit' handler): a terminal closes once; a slot hung up on again and
 * again is a failed start.
 */
const HANGUP_RESTARTS_PER_SLOT = 3;

/** The exit code of a process ended by a second `signal`: 128 + its number (130 SIGINT, 143 SIGTERM). */
function forcedExitCode(signal: string): number {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 0);
}

type Message =
  | { hk: 'hello' }
  | { hk: 'welcome'; stores: SharedStoresDescription | null }
  | { hk: 'ready'; url: string }
  | { hk: 'failed'; message: string }
  | { hk: 'shutdown'; drain: boolean }
  | { hk: 'reload-certificate' }
  | { hk: 'metrics'; id: number }
  | { hk: 'metrics-result'; id: number; text?: string; error?: string };

/**
 * CPUs this process may use: the available cores, capped by a cgroup v2 CPU quota (a container
 * limited to 2 CPUs on a 64-core node runs 2 workers, not 64).
 *
 * @example
 * ```ts
 * defaultWorkerCount(); // 2 on a 2-core laptop
 * ```
 */
export function defaultWorkerCount(cpuMaxFile = '/sys/fs/cgroup/cpu.max'): number {
  const cores = availableParallelism();
  let quota = Number.POSITIVE_INFINITY;
  try {
    const [limit, period] = readFileSync(cpuMaxFile, 'utf8').trim().split(/\s+/);
    if (limit !== 'max' && Number(limit) > 0 && Number(period) > 0) quota = Math.ceil(Number(limit) / Number(period));
  } catch {
    // No cgroup v2 CPU controller (not in a container, or cgroup v1): the cores are the limit.
  }
  return Math.max(1, Math.min(cores, quota));
}

/**
 * Ends the process once the (asynchronous) log destination has written everything: ending the
 * stream waits for the write in progress, where `flush()` or a bare `process.exit()` would let
 * the lines still buffered overtake it or be lost.
 */
function exitAfterFlush(logger: Logger, code: number): never {
  process.exitCode = code;
  const exit = () => process.exit(code);
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    | { end?: () => void; once?: (event: string, listener: () => void) => void; destroyed?: boolean }
    | undefined;
  // A destination that cannot drain (stdout closed) must not keep the process alive: after 1 s, the
  // exit, once no log write's result is still to come back from libuv's thread pool (pino's exit
  // flush skips such a write and its lines were lost; test/review16-flush-sync.test.ts), 1 s more
  // at most (a pool kept busy).
  setTimeout(() => {
    setTimeout(exit, 1_000).unref();
    settleLogWrites(stream, exit);
  }, 1_000).unref();
  if (typeof stream?.end === 'function' && typeof stream.once === 'function' && !stream.destroyed) {
    // Nothing may log into the ended stream (it would throw) in the moment left.
    logger.level = 'silent';
    stream.once('close', exit);
    stream.end();
  } else {
    logger.flush(exit);
  }
  // Never resolves for the caller: the process ends in one of the callbacks above.
  return undefined as never;
}

/**
 * A crash (an uncaught exception, or a rejection nobody handled) ends the process the way
 * {@link exitAfterFlush} does, with code 1, instead of at the exception: Node then ran pino's exit
 * handler, whose `flushSync` writes the lines still queued but not the write in flight, and that
 * one was lost (a write to a full stdout pipe waits on EAGAIN for a timer that never came: up to
 * 4 KB of access lines of requests already answered; test/crash-exit-log.test.ts). The error is
 * written to stderr as Node writes it; the log gets a fatal line without its message (which could
 * carry anything). The server stops serving first (`halt`, once the caller has handed it over with
 * the returned function): nothing is answered in the moment left, where the logger is silenced while
 * its stream ends and an answer would leave no access line
 * (test/adversarial/review15-crash-stops-serving.test.ts).
 */
function exitAfterFlushOnCrash(logger: Logger): (halt: () => void) => void {
  let crashed = false;
  let halt: (() => void) | undefined;
  const haltServing = () => {
    try {
      halt?.();
    } catch {
      // Whatever is left of the listener, the process exits below.
    }
  };
  process.on('uncaughtException', (error, origin) => {
    try {
      writeSync(
        2,
        `${origin === 'unhandledRejection' ? 'Unhandled rejection' : 'Uncaught exception'}: ${inspect(error)}\n`,
      );
    } catch {
      // stderr closed: nothing to tell it.
    }
    if (crashed) return;
    crashed = true;
    haltServing();
    // pino follows every fatal line with its stream's flushSync(), which writes the lines queued
    // ahead of a write still in flight (one waiting on EAGAIN for its retry: a full log pipe), so
    // they came out of order, and busy-waits on the pipe with the event loop blocked. Ending the
    // stream (exitAfterFlush) writes everything in order: flushSync is left out for this one line.
    const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
      | { flushSync?: () => void }
      | undefined;
    const flushSync = stream?.flushSync;
    if (stream !== undefined && typeof flushSync === 'function') stream.flushSync = () => {};
    try {
      logger.fatal({ type: (error as Error | undefined)?.name, origin }, 'uncaught exception: exiting');
    } catch {
      // A logger that cannot write still gets its stream ended below.
    } finally {
      if (stream !== undefined && typeof flushSync === 'function') stream.flushSync = flushSync;
    }
    exitAfterFlush(logger, 1);
  });
  return (serving) => {
    halt = serving;
    // A crash while the server was starting: it must not start answering now.
    if (crashed) haltServing();
  };
}

/**
 * Runs `hmac-kit serve` as a process and owns it: installs the signal handlers and the crash handler (SIGTERM drains
 * then shuts down, SIGINT shuts down without draining, a second SIGTERM/SIGINT exits at once,
 * SIGHUP reloads the TLS certificate) and ends the process when the server has stopped.
 * With `config.workers` above 1 (the default is one per available core) this process becomes the
 * supervisor of that many workers; in a worker it runs the worker.
 *
 * @example
 * ```ts
 * await runServe(loadConfig({ env: process.env }), { onListening: ({ url }) => console.error(url) });
 * ```
 */
export async function runServe(config: ServerConfig, hooks: ServeHooks = {}): Promise<number> {
  if (cluster.isWorker) return runWorker(config);
  let workers = config.workers ?? defaultWorkerCount();
  let oneForMemory = false;
  if (config.database === ':memory:' && workers > 1) {
    if (config.workers !== undefined) {
      throw new Error('an in-memory database (:memory:) cannot be shared by several workers: use --workers 1');
    }
    oneForMemory = true;
    workers = 1;
  }
  // With workers, the supervisor and every worker write to the same stdout.
  const logger = createLogger(config.logLevel, undefined, {
    sharedOutput: workers > 1,
    maxBufferBytes: config.logMaxBufferBytes,
  });
  const onCrashHalt = exitAfterFlushOnCrash(logger);
  if (oneForMemory) logger.info('an in-memory database cannot be shared by several workers: running one');
  if (workers === 1) return runSingle(config, hooks, logger, onCrashHalt);
  return runSupervisor(config, workers, hooks, logger);
}

interface SignalHandlers {
  stop(drain: boolean): void;
  force(signal: string): void;
  reload(): void;
}

/**
 * Installs SIGTERM/SIGINT (first: `stop`; second: exit now) and SIGHUP handlers at once, before the
 * server starts: a signal that arrives while it starts is held and handled as soon as `attach` is
 * called (without a handler, Node's default for SIGTERM/SIGHUP would kill the process outright).
 * A second SIGTERM/SIGINT while it starts exits at once, as after: through `whileStarting`'s handler
 * (the supervisor's: its workers told to go and reaped), else {@link exitAfterFlush} with 130 / 143.
 * (It was a bare `process.exit()`: the supervisor left its workers to exit after it, unreaped, on
 * their own, and the log was left to pino's exit hook.)
 */
function onSignals(
  logger: Logger,
  startBoundSeconds: number,
): {
  attach(handlers: SignalHandlers): void;
  /** How to exit with `code` while the server starts (a second signal, or a stop that waited too long). */
  whileStarting(force: (code: number) => void): void;
  /** Whether a SIGTERM/SIGINT has come (held until `attach` while the server starts). */
  stopRequested(): boolean;
  /** Resolves true as soon as a SIGTERM/SIGINT has come, false if none came within `ms`. */
  stopRequestedWithin(ms: number): Promise<boolean>;
  /** Resolves true as soon as a SIGHUP has come (or one already came), false if none came within `ms`. */
  hangupWithin(ms: number): Promise<boolean>;
} {
  let received = 0;
  let hangups = 0;
  /** Waiting for the first SIGTERM/SIGINT: see stopRequestedWithin. */
  const stopWaiters = new Set<() => void>();
  /** Waiting for a SIGHUP: see hangupWithin. */
  const hangupWaiters = new Set<() => void>();
  /** Resolves true once `waiters` are woken, false after `ms`. */
  const wakeWithin = (waiters: Set<() => void>, ms: number) =>
    new Promise<boolean>((resolve) => {
      const came = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        waiters.delete(came);
        resolve(false);
      }, ms);
      waiters.add(came);
    });
  const wake = (waiters: Set<() => void>) => {
    for (const resolve of waiters) resolve();
    waiters.clear();
  };
  let target: SignalHandlers | undefined;
  let forceWhileStarting: (code: number) => void = (code) => exitAfterFlush(logger, code);
  /** Ends a stop that waits for a start-up which does not complete (see below). */
  let startBound: NodeJS.Timeout | undefined;
  let forced = false;
  const held: Array<(handlers: SignalHandlers) => void> = [];
  const deliver = (action: (handlers: SignalHandlers) => void) => {
    if (target) action(target);
    else held.push(action);
  };
  const stop = (signal: 'SIGTERM' | 'SIGINT') => {
    received++;
    if (received > 1) {
      if (forced) return;
      forced = true;
      logger.warn({ signal }, 'second signal: exiting now');
      if (target) target.force(signal);
      else forceWhileStarting(forcedExitCode(signal));
      return;
    }
    logger.info({ signal }, 'signal received');
    wake(stopWaiters);
    if (!target) {
      // A stop asked while the server starts waits for the start-up (then stops as after it), but
      // at most the shutdown timeout: a start-up that never completes (a database that never
      // answers, a worker that never becomes ready) held one SIGTERM for ever, until the
      // orchestrator's SIGKILL (exit 137, no 'stopped', review17-startup-stop-bound.test.ts).
      // Exiting in the middle of the start-up is what a second signal does already (each step of it
      // is a transaction or idempotent). Unref'd: a failed start-up exits without waiting for it.
      startBound = setTimeout(() => {
        if (target || forced) return;
        forced = true;
        logger.warn(
          { signal, waitedSeconds: startBoundSeconds },
          'the server did not start within the shutdown timeout after a stop was asked: exiting',
        );
        forceWhileStarting(EXIT_FORCED);
      }, startBoundSeconds * 1000).unref();
    }
    // SIGTERM is how orchestrators and load balancers stop a server: drain first. SIGINT is a person.
    deliver((handlers) => handlers.stop(signal === 'SIGTERM'));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    hangups++;
    wake(hangupWaiters);
    logger.info({ signal: 'SIGHUP' }, 'signal received: reloading the TLS certificate');
    deliver((handlers) => handlers.reload());
  });
  return {
    attach(handlers) {
      clearTimeout(startBound);
      target = handlers;
      for (const action of held.splice(0)) action(handlers);
    },
    whileStarting(force) {
      forceWhileStarting = force;
    },
    stopRequested: () => received > 0,
    stopRequestedWithin(ms) {
      return received > 0 ? Promise.resolve(true) : wakeWithin(stopWaiters, ms);
    },
    hangupWithin(ms) {
      return hangups > 0 ? Promise.resolve(true) : wakeWithin(hangupWaiters, ms);
    },
  };
}

async function runSingle(
  config: ServerConfig,
  hooks: ServeHooks,
  logger: Logger,
  onCrashHalt: (halt: () => void) => void,
): Promise<number> {
  const signals = onSignals(logger, config.shutdownTimeoutSeconds);
  const running = await startServer(config, { logger });
  onCrashHalt(() => running.halt());
  hooks.onListening?.({ url: running.url, store: running.services.info, workers: 1 });
  const code = await new Promise<number>((resolve) => {
    signals.attach({
      stop: (drain) => {
        running.close({ drain }).then(
          (outcome) => resolve(outcome.forced ? EXIT_FORCED : 0),
          () => resolve(EXIT_FORCED),
        );
      },
      force: (signal) => exitAfterFlush(logger, forcedExitCode(signal)),
      reload: () => void running.reloadCertificate(),
    });
  });
  // Whatever a store left behind (a Redis client still reconnecting) must not keep the process alive.
  return exitAfterFlush(logger, code);
}

/** Fails fast, in the supervisor, on what would make every worker fail to start. */
async function prepare(config: ServerConfig): Promise<StoreInfo> {
  if (config.tls) {
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (error) {
        throw new Error(`cannot read TLS ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    };
    createSecureContext({
      cert: read(config.tls.certFile, 'certificate'),
      key: read(config.tls.keyFile, 'private key'),
      minVersion: config.tls.minVersion,
    });
  }
  // Migrations and the default master key file, once, before several processes race to do them.
  const opened = await openKeys({
    database: config.database,
    masterKeys: config.masterKeys,
    masterKeyFile: config.masterKeyFile,
  });
  const info = opened.info;
  await opened.close();
  return info;
}

async function runSupervisor(config: ServerConfig, count: number, hooks: ServeHooks, logger: Logger): Promise<number> {
  const signals = onSignals(logger, config.shutdownTimeoutSeconds);
  const store = await prepare(config);
  const memory = config.redis ? undefined : memoryLimitStores({ nonceCapacity: config.nonceCapacity, logger });
  const shared = memory === undefined ? undefined : shareLimitStores(memory);
  const aggregator = new AggregatorRegistry();
  // The supervisor's own metrics, added to the workers' aggregate: the shared nonce store's fill.
  const own = new Registry();
  if (memory !== undefined) nonceStoreGauges(own, memory.nonceStore);
  cluster.setupPrimary({ serialization: 'advanced' });

  const slots = new Map<Worker, { slot: number; readyAt?: number }>();
  const attempts: number[] = new Array(count).fill(0);
  /** Per slot, how often it was started again after a hang-up while the workers started. */
  const hangupRestarts: number[] = new Array(count).fill(0);
  const restartTimers = new Set<NodeJS.Timeout>();
  let listening = false;
  let stopping = false;
  let url = '';
  let exitCode = 0;
  /** A worker's death while the workers start waits to be told from a stop (see the 'exit' handler). */
  let decidingStartExit = false;

  const send = (worker: Worker, message: Message) => {
    if (worker.isConnected()) worker.send(message);
  };
  const fork = (slot: number) => {
    const worker = cluster.fork();
    slots.set(worker, { slot });
  };

  let startupFailed!: (error: Error) => void;
  let allListening!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    allListening = resolve;
    startupFailed = reject;
  });
  let allExited!: () => void;
  const exited = new Promise<void>((resolve) => {
    allExited = resolve;
  });

  cluster.on('message', (worker, raw) => {
    const message = raw as Message;
    if (shared?.handle(raw, (reply) => send(worker, reply as unknown as Message))) return;
    const entry = slots.get(worker);
    if (!entry) return;
    switch (message?.hk) {
      case 'hello':
        send(worker, { hk: 'welcome', stores: shared?.description ?? null });
        return;
      case 'ready': {
        entry.readyAt = Date.now();
        url = message.url;
        if (listening) {
          logger.info({ worker: worker.id, pid: worker.process.pid }, 'worker restarted');
        } else if ([...slots.values()].filter((other) => other.readyAt !== undefined).length === count) {
          listening = true;
          allListening();
        }
        return;
      }
      case 'failed':
        if (!listening) startupFailed(new Error(message.message));
        else logger.error({ worker: worker.id, err: message.message }, 'worker failed to start');
        return;
      case 'metrics':
        Promise.all([aggregator.clusterMetrics(), memory === undefined ? '' : own.metrics()]).then(
          ([text, supervisor]) => send(worker, { hk: 'metrics-result', id: message.id, text: `${text}${supervisor}` }),
          (error: Error) => send(worker, { hk: 'metrics-result', id: message.id, error: error.message }),
        );
        return;
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const entry = slots.get(worker);
    slots.delete(worker);
    if (stopping) {
      // A worker whose own shutdown timed out (or that was killed) makes the whole stop a forced one.
      if (code !== 0) exitCode = EXIT_FORCED;
      if (slots.size === 0) allExited();
      return;
    }
    if (!entry) return;
    if (!listening) {
      // One decision for every worker a signal to the group ended: the first death's.
      if (decidingStartExit) return;
      const decide = () => {
        if (signals.stopRequested()) {
          // Stopping was asked while the workers started, and a worker ended (a terminal's Ctrl-C
          // reaches the whole process group, a worker before its own handlers too): the stop asked
          // for, not a failed start. The others are reaped, and the exit is a clean stop's.
          logger.info({ worker: worker.id, code, signal }, 'a worker ended while starting after a stop was asked');
          reapThenExit(0);
          return;
        }
        startupFailed(new Error(`worker exited during start (code ${code ?? signal})`));
      };
      if (signal === 'SIGHUP') {
        // A hang-up of the process group (the terminal `serve` runs in closes) reaches a worker
        // before its own handler is installed, and Node's default ends it. The supervisor reads
        // SIGHUP as a certificate reload and keeps serving, as the workers do once started: so the
        // worker is started again, not the whole start failed (it was "cannot start: worker exited
        // during start (code SIGHUP)", startup-signals.test.ts). Only if the supervisor got the
        // hang-up too (within the same bound as a stop's); a worker hung up on alone, or again and
        // again, still fails the start.
        const { slot } = entry;
        signals.hangupWithin(GROUP_SIGNAL_GRACE_MS).then((groupHangup) => {
          if (stopping || listening) return;
          if (groupHangup && !signals.stopRequested() && hangupRestarts[slot]! < HANGUP_RESTARTS_PER_SLOT) {
            hangupRestarts[slot]!++;
            logger.info({ worker: worker.id, signal }, 'a worker ended by a hang-up while starting: starting it again');
            fork(slot);
            return;
          }
          decide();
        });
        return;
      }
      if (signal === 'SIGINT' || signal === 'SIGTERM') {
        // The same signal to the process group reaches this process too, but the worker's death can
        // be seen first: a CI run beside the whole suite took a Ctrl-C for a failed start this way
        // (startup-signals.test.ts). Wait for it, bounded; a worker killed on its own still fails the start.
        decidingStartExit = true;
        signals.stopRequestedWithin(GROUP_SIGNAL_GRACE_MS).then(decide);
        return;
      }
      decide();
      return;
    }
    const upFor = entry.readyAt === undefined ? 0 : Date.now() - entry.readyAt;
    if (upFor >= HEALTHY_AFTER_MS) attempts[entry.slot] = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (attempts[entry.slot] ?? 0));
    attempts[entry.slot] = (attempts[entry.slot] ?? 0) + 1;
    logger.error(
      { worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay },
      'worker exited unexpectedly: restarting it',
    );
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      if (!stopping) fork(entry.slot);
    }, delay);
    restartTimers.add(timer);
  });

  const killAll = () => {
    for (const worker of slots.keys()) worker.process.kill('SIGKILL');
  };

  /**
   * A second SIGTERM/SIGINT, while the workers start or after: each worker's IPC channel is closed (a
   * cluster worker exits at once when its supervisor's channel closes, its log flushed on exit), the
   * ones still there after {@link FORCE_GRACE_MS} are killed, and all are reaped before this process
   * exits with `code` (130 / 143; 0 for a stop asked while they started, see the exit handler): none
   * is left behind to exit after it, unreaped.
   */
  function reapThenExit(code: number): void {
    stopping = true;
    for (const timer of restartTimers) clearTimeout(timer);
    const stopped = () => {
      logger.info({ exitCode: code }, 'stopped');
      exitAfterFlush(logger, code);
    };
    if (slots.size === 0) {
      stopped();
      return;
    }
    for (const worker of slots.keys()) {
      try {
        if (worker.isConnected()) worker.process.disconnect?.();
      } catch {
        // The channel is closing anyway: the kill below remains.
      }
    }
    const deadline = setTimeout(killAll, FORCE_GRACE_MS);
    exited.then(() => {
      clearTimeout(deadline);
      stopped();
    });
  }
  signals.whileStarting(reapThenExit);

  for (let slot = 0; slot < count; slot++) fork(slot);
  try {
    await started;
  } catch (error) {
    stopping = true;
    killAll();
    throw error;
  }
  logWeakSchemes(config, logger);
  // Each worker chose the same way (same Node, same configuration; an explicit builtin that could
  // not run stopped them from starting): the fallback warning, if any, is said once, here.
  const upstreamClient = upstreamClientFor(config, {});
  logUpstreamClientFallback(upstreamClient, logger);
  logger.info(
    {
      url,
      workers: count,
      sharedStores: shared ? 'supervisor memory' : 'redis',
      ...(upstreamClient ? { upstreamClient: describeUpstreamClient(upstreamClient) } : {}),
    },
    `listening`,
  );
  hooks.onListening?.({ url, store, workers: count });

  await new Promise<void>((resolve) => {
    signals.attach({
      stop: (drain) => {
        stopping = true;
        for (const timer of restartTimers) clearTimeout(timer);
        if (slots.size === 0) allExited();
        for (const worker of slots.keys()) send(worker, { hk: 'shutdown', drain });
        const deadline = setTimeout(
          () => {
            logger.warn({ workers: slots.size }, 'workers did not exit in time: killing them');
            exitCode = EXIT_FORCED;
            killAll();
          },
          ((drain ? config.drainPeriodSeconds : 0) + config.shutdownTimeoutSeconds) * 1000 + EXIT_GRACE_MS,
        );
        exited.then(() => {
          clearTimeout(deadline);
          resolve();
        });
      },
      force: (signal) => reapThenExit(forcedExitCode(signal)),
      reload: () => {
        for (const worker of slots.keys()) send(worker, { hk: 'reload-certificate' });
      },
    });
  });
  logger.info({ exitCode }, 'stopped');
  return exitAfterFlush(logger, exitCode);
}

/** A cluster worker: asks the supervisor for its shared stores, serves, and obeys the supervisor. */
async function runWorker(config: ServerConfig): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  const logger = createLogger(config.logLevel, undefined, {
    sharedOutput: true,
    maxBufferBytes: config.logMaxBufferBytes,
  }).child({
    worker: id,
    pid: process.pid,
  });
  const onCrashHalt = exitAfterFlushOnCrash(logger);
  // A terminal's Ctrl-C reaches the whole process group, also while the worker starts: until it
  // serves, a SIGTERM/SIGINT/SIGHUP is the supervisor's to handle (it holds a stop until every worker
  // listens, then tells them; a second signal ends them). Without a handler, Node's default ended the
  // worker, and the supervisor took that for a failed start: one Ctrl-C while the workers started
  // printed "cannot start: worker exited during start (code SIGINT)" and exited 1 (startup-signals.test.ts).
  const whileStarting = () => {};
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, whileStarting);
  const channel = process as unknown as {
    send(message: Message | object, callback?: (error: Error | null) => void): boolean;
    on(event: 'message', listener: (message: unknown) => void): unknown;
    on(event: 'disconnect', listener: () => void): unknown;
    off(event: 'message', listener: (message: unknown) => void): unknown;
  };
  const description = await new Promise<SharedStoresDescription | null>((resolve) => {
    const listener = (message: unknown) => {
      if ((message as Message)?.hk !== 'welcome') return;
      channel.off('message', listener);
      resolve((message as { stores: SharedStoresDescription | null }).stores);
    };
    channel.on('message', listener);
    channel.send({ hk: 'hello' });
  });

  // /metrics in a worker: the supervisor collects every worker's registry and sums them.
  const metrics = createMetrics();
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
  const pendingMetrics = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  let nextMetricsId = 0;
  channel.on('message', (message) => {
    const result = message as Message;
    if (result?.hk !== 'metrics-result') return;
    const request = pendingMetrics.get(result.id);
    pendingMetrics.delete(result.id);
    if (result.error !== undefined) request?.reject(new Error(result.error));
    else request?.resolve(result.text ?? '');
  });
  const metricsText = () =>
    new Promise<string>((resolve, reject) => {
      const requestId = nextMetricsId++;
      pendingMetrics.set(requestId, { resolve, reject });
      channel.send({ hk: 'metrics', id: requestId });
    });

  let running: RunningServer;
  try {
    running = await startServer(config, {
      logger,
      metrics,
      metricsText,
      worker: true,
      ...(description ? { limitStores: supervisorLimitStores(channel, description) } : {}),
    });
  } catch (error) {
    channel.send({ hk: 'failed', message: (error as Error).message.split('\n')[0] ?? 'failed' });
    return exitAfterFlush(logger, 1);
  }
  onCrashHalt(() => running.halt());

  let stopping = false;
  const stop = (drain: boolean) => {
    if (stopping) return;
    stopping = true;
    running.close({ drain }).then(
      (outcome) => exitAfterFlush(logger, outcome.forced ? EXIT_FORCED : 0),
      () => exitAfterFlush(logger, EXIT_FORCED),
    );
  };
  channel.on('message', (message) => {
    const command = message as Message;
    if (command?.hk === 'shutdown') stop(command.drain);
    else if (command?.hk === 'reload-certificate') void running.reloadCertificate();
  });
  // A terminal's Ctrl-C reaches the whole process group: the supervisor decides, the worker only
  // starts the same graceful shutdown (and never escalates on a second signal itself).
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(signal, whileStarting);
  process.on('SIGTERM', () => stop(true));
  process.on('SIGINT', () => stop(false));
  process.on('SIGHUP', () => void running.reloadCertificate());
  channel.send({ hk: 'ready', url: running.url });
  return new Promise<number>(() => {});
}
