import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildOnce, startServe, tempDir } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { issueKey, startInProcess } from './support/in-process.js';

/** Times the main thread of `pid` went to sleep and was woken since it started (Linux). */
function mainThreadWakeups(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
}

// An idle `hmac-kit serve` used about 0.8% of a core: the key cache read the change feed every
// 500 ms and prom-client sampled the event loop every 10 ms, whether or not anything happened
// (then once a second: still 0.24% for two workers and their supervisor).
describe('an idle hmac-kit serve sleeps', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires no JavaScript timer in an idle hour, once a request has been served and the server went quiet', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    // Count every timer callback the server's code schedules (global timers; the fake clock drives them).
    let fired = 0;
    const fakeSetTimeout = globalThis.setTimeout;
    const fakeSetInterval = globalThis.setInterval;
    const counted =
      <T extends (...args: never[]) => unknown>(schedule: T) =>
      (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
        (schedule as unknown as (...a: unknown[]) => unknown)(
          (...callbackArgs: unknown[]) => {
            fired++;
            callback(...callbackArgs);
          },
          ms,
          ...args,
        );
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(counted(fakeSetTimeout) as typeof setTimeout);
    vi.spyOn(globalThis, 'setInterval').mockImplementation(counted(fakeSetInterval) as typeof setInterval);

    const server = await startInProcess();
    try {
      const key = await issueKey(server, 'alice');
      // One lookup wakes the key cache up, as a request would.
      expect(await server.services.keyService.resolver(key.keyId)).toBeDefined();
      await vi.advanceTimersByTimeAsync(5_000);
      const afterSettling = fired;
      await vi.advanceTimersByTimeAsync(3_600_000);
      // Before: 7 200 change-feed reads an hour.
      expect(fired - afterSettling).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
      await server.close();
    }
  });

  it('lets its main thread sleep when idle: under one wakeup a second (it woke 100, then 1, times a second)', async () => {
    buildOnce();
    const dir = tempDir();
    const server = await startServe(['--db', join(dir, 'hmac-kit.db')], { cwd: dir });
    try {
      const pid = server.child.pid as number;
      // Counted over stretches at least 8 s long; the count, not the time, is what is asserted. A
      // timer of its own (100 wakeups a second before, 2 for a 500 ms poll) wakes it in every
      // stretch; start-up's own late work does not recur (V8's memory reducer collects a few
      // seconds after start, its helper threads waking the main thread a dozen times: 1.37-1.5
      // wakeups/s over the first 8 s in runs beside the rest of the suite, then 0). So the first
      // stretch under one wakeup a second, of up to four, passes.
      const rates: number[] = [];
      while (rates.length < 4 && !rates.some((rate) => rate < 1)) {
        const first = { wakeups: mainThreadWakeups(pid), at: performance.now() };
        await until(() => performance.now() - first.at >= 8_000);
        rates.push((mainThreadWakeups(pid) - first.wakeups) / ((performance.now() - first.at) / 1000));
      }
      // No timer of its own (event-loop delay is sampled only while requests arrive); what is left
      // is the odd garbage collection and Node's 30 s HTTP connection check.
      expect(Math.min(...rates), `wakeups a second in each 8 s stretch: ${rates.join(', ')}`).toBeLessThan(1);
    } finally {
      await server.stop();
    }
  });
});
