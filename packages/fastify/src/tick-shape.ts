/**
 * Keeps node's `process.nextTick` on V8's fast path in a verifying app (see `keepTickShape`).
 */
import { executionAsyncResource } from 'node:async_hooks';

let kept: object | undefined;
let scheduled = false;

/**
 * Holds one of node's tick objects (`process.nextTick`'s `{ [async_id], [trigger_async_id],
 * callback, args }`) for the life of the process, once per process: taken inside a tick with
 * `executionAsyncResource()`, which is that tick's object. Nothing else changes; no hook is enabled.
 *
 * Why: the literal that builds every tick object defines its four properties one by one, each
 * definition keeping the map (hidden class) it saw as feedback, held weakly. Node keeps no tick
 * object alive between ticks, and V8's map transitions are weak too, so a garbage collection that
 * happens while no tick object is alive frees the maps after the first property; the next tick
 * builds new ones, and V8 (Runtime_DefineKeyedOwnPropertyInLiteral) turns those three sites
 * megamorphic for good. `nextTick` is then optimised with three runtime calls per tick (~4k
 * instructions each, 3 per tick, ~5 ticks per Fastify request: ~20k of the ~130k instructions the
 * plugin added per request, bench/count-ab.js fastify --http). The app without authentication
 * allocates less, collects at other moments and kept the fast path; whether an app hits such a
 * collection is luck of timing, which the verification's allocations made likely. One live tick
 * object keeps the maps, so the feedback stays monomorphic. Seen with `--print-opt-code
 * --print-opt-code-filter=nextTick` (calls to CEntry in `nextTick`: 4 without, 1 with) and counted
 * in docs/performance.md, "Session 13: Fastify adapter (perf-fastify)".
 *
 * Invariant: only an object node created and no longer uses is held (its callback ran); it is never
 * read or changed. Harmless where the maps never die (the count is then unchanged).
 */
export function keepTickShape(): void {
  if (scheduled) return;
  scheduled = true;
  process.nextTick(holdCurrentTick);
}

function holdCurrentTick(): void {
  kept = executionAsyncResource();
}

/** The tick object held (tests). */
export function keptTickObject(): object | undefined {
  return kept;
}
