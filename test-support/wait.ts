/** Waiting for a condition in tests: polled, never a fixed sleep; the test's own timeout is the hang detector. */

/**
 * Resolves once `probe` holds, polling every 20 ms (the test's own timeout bounds the wait).
 *
 * @example
 * ```ts
 * await until(() => server.logs.some((line) => line.msg === 'shutting down'));
 * ```
 */
export async function until(probe: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Resolves with what `probe` returns once it returns something (not `undefined`), checking on
 * every event-loop turn; rejects naming `what` after `timeoutMs` (a hang detector, generous for a
 * loaded machine, not a speed check).
 *
 * Checking on every turn keeps the loop spinning: a core's worth of CPU for as long as the wait
 * lasts. That is what a test needs that acts in the turn a state appears (before a timer of the
 * code under test runs); a wait of a second or more for another process or a server-side bound
 * passes `pollMs` (checks every `pollMs` ms on a timer instead, as {@link until} does).
 *
 * @example
 * ```ts
 * const line = await untilValue(() => logLines.find((entry) => entry.reqId === id), 'the access log line');
 * await untilValue(() => (child.exitCode !== null ? true : undefined), 'the exit', 30_000, 20);
 * ```
 */
export async function untilValue<T>(
  probe: () => T | undefined,
  what: string,
  timeoutMs = 20_000,
  pollMs = 0,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => (pollMs > 0 ? setTimeout(resolve, pollMs) : setImmediate(resolve)));
  }
}

/**
 * Lets the event loop turn once (a macrotask, not a microtask). Long CPU-bound loops in a test call
 * it every few thousand steps: vitest's worker answers the host's RPC only between macrotasks, and
 * a worker that does not for 60 s fails the whole run ("Timeout calling onTaskUpdate", seen on a
 * machine at load 25 with every test passing) although no test failed.
 *
 * @example
 * ```ts
 * for (let step = 0; step < 200_000; step++) {
 *   if (step % 5_000 === 0) await turnEventLoop();
 *   // ...
 * }
 * ```
 */
export function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
