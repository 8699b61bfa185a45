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
