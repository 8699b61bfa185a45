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
 * @example
 * ```ts
 * const line = await untilValue(() => logLines.find((entry) => entry.reqId === id), 'the access log line');
 * ```
 */
export async function untilValue<T>(probe: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
