/**
 * Verification in batches: the Node adapters and `hmac-kit serve` hand each request's
 * verification to {@link inCheckPhase} instead of running it where the request arrived, so that
 * every request that arrived in one turn of the event loop is verified back to back.
 *
 * Why: in a server, each request runs node:http's parser, the framework and the verifier in turn,
 * and together their code does not fit in the CPU's caches: the verifier's code is evicted by the
 * framework's between two requests, and each verification fetches it again (under callgrind's cache
 * simulation, a Fastify request with authentication has ~2.5k more last-level-cache misses than
 * one without, most of them instruction fetches, while a verification in a loop has ~0.2k). An
 * authentication that costs ~10 µs in a loop cost ~23 µs more per request when run between
 * Fastify requests, and ~10 µs when 16 ran back to back (bench/in-process.js, session 15).
 * Batching costs nothing in latency: a check-phase callback runs right after the poll phase that
 * delivered the requests, before the loop waits again; an idle server runs a batch of one.
 *
 * At most {@link MAX_WAITING} runs wait: the next one queued first runs those (outside a batch).
 * node:http stops reading a socket once the answers it holds for it pass the socket's high-water
 * mark, which bounds the requests one client has parsed and held at once; a request answers
 * nothing while its run waits, so without the bound a client pipelining in one write had every
 * request of up to 32 reads of 64 KiB (what libuv reads off one socket per poll phase) parsed and
 * held at once (6000 pipelined signed GETs to Fastify: 760 held at once on loopback, against 255
 * verified where they arrived; 314 with the bound: review-batch-pipeline-depth.test.ts). 64
 * keeps what batching is for (16 back to back already took the verification from ~23 µs to ~10).
 *
 * Invariant: each queued run is called exactly once, in the async context it was queued in (its
 * AsyncLocalStorage stores and trace context, not the batch's), in the order queued, in the check phase
 * after the poll phase that queued it, or earlier when {@link MAX_WAITING} wait (work queued while
 * a batch runs goes into the next batch and is never run early by it, so a run that queues again
 * cannot starve the loop). A run that throws does not stop the others:
 * the batch finishes, and each error is thrown from a fresh check-phase callback of its own, as an
 * error thrown by that run in a `setImmediate()` of its own would have been (every one reaches an
 * 'uncaughtException' listener: only the first did before review-batch).
 */

import { AsyncResource } from 'node:async_hooks';

/**
 * A run and the async context it was queued in (AsyncLocalStorage stores, the active trace span):
 * a batch is one check-phase callback, which by itself would run every run in the context of the
 * one that scheduled it, so the rest of each request (the adapters' `next()`/`done()`, the app's
 * handlers) would see the first request's request-scoped context (test/batch-async-context.test.ts).
 * `requireManualDestroy`: destroyed right after it runs, not tracked for garbage collection.
 */
class QueuedRun extends AsyncResource {
  readonly run: (argument: unknown) => void;
  /** What `run` is called with: a caller hands its request's state here instead of a closure per request. */
  readonly argument: unknown;
  constructor(run: (argument: unknown) => void, argument: unknown) {
    super('HMAC_KIT_CHECK_PHASE', { requireManualDestroy: true });
    this.run = run;
    this.argument = argument;
  }
}

let queued: QueuedRun[] = [];
/** Whether a batch is running (then nothing is run early: see the module comment). */
let running = false;

/** Runs that wait at most: one more runs them first. */
const MAX_WAITING = 64;

/**
 * `setImmediate` as it was when this module loaded, not as it is when a batch is scheduled: fake
 * timers installed later (vitest's and jest's fake `setImmediate` by default, in the tests of an
 * app that fakes the clock to test signature expiry) would otherwise hold the batch until the test
 * advances them, and a batch whose callback never runs (fake timers uninstalled with it pending)
 * leaves `queued` non-empty, so that no later request of the process schedules one: every request
 * of every app waited forever (review-batch-fake-timers.test.ts). Before the batches, verification
 * ran in a microtask (Fastify) or synchronously (Express), which fake timers do not hold. The
 * rethrow below goes through the global one: losing it loses that report, nothing else.
 */
const schedule = setImmediate;

/**
 * Runs `run` in the check phase of the current event-loop turn, after whatever else was queued
 * in that turn (see the module comment for why). Node.js only (`setImmediate`). With `argument`,
 * `run(argument)`: a caller whose `run` is one function for every request hands the request's
 * state as the argument, with no closure made (and lazily set up by V8) per request (session 22).
 *
 * @example
 * ```ts
 * inCheckPhase(() => verify(request, reply, done));
 * inCheckPhase(verifyOne, pending); // verifyOne(pending)
 * ```
 */
export function inCheckPhase(run: () => void): void;
export function inCheckPhase<T>(run: (argument: T) => void, argument: T): void;
export function inCheckPhase(run: (argument: unknown) => void, argument?: unknown): void {
  // The batch already scheduled then finds this run alone, or with those queued after it.
  if (queued.length >= MAX_WAITING && !running) runQueued();
  queued.push(new QueuedRun(run, argument));
  if (queued.length === 1) schedule(runQueued);
}

function runQueued(): void {
  const batch = queued;
  queued = [];
  running = true;
  for (const queuedRun of batch) {
    try {
      queuedRun.runInAsyncScope(queuedRun.run, undefined, queuedRun.argument);
    } catch (error) {
      setImmediate(rethrow, error);
    } finally {
      queuedRun.emitDestroy();
    }
  }
  running = false;
}

function rethrow(error: unknown): never {
  throw error;
}
