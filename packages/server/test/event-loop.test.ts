import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createEventLoopMonitor, EVENT_LOOP_DELAY_GAUGES } from '../src/event-loop.js';

/** Resolves once `probe` holds (the test's own timeout bounds the wait). */
async function until(probe: () => boolean): Promise<void> {
  while (!probe()) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  return metric?.values[0]?.value;
}

/** Keeps the event loop busy for `ms` (a delay the histogram must see). */
function blockLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

describe('event-loop delay sampled only while requests arrive', () => {
  it('does not sample before the first request, samples after it, and stops once requests stop', async () => {
    const registry = new Registry();
    const monitor = createEventLoopMonitor(registry, { sampleMs: 5, idleAfterMs: 200 });
    try {
      expect(monitor.sampling).toBe(false);
      monitor.touch();
      expect(monitor.sampling).toBe(true);
      // Requests keep arriving: sampling goes on past the idle period.
      const busyUntil = performance.now() + 500;
      while (performance.now() < busyUntil) {
        monitor.touch();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(monitor.sampling).toBe(true);
      blockLoop(60);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await gauge(registry, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.04);
      // No request for a whole idle period: the sampling stops (no timer left to wake an idle process).
      await until(() => !monitor.sampling);
      // The scrape reset the histogram; nothing sampled since reads 0, not 2^63 ns.
      await gauge(registry, 'nodejs_eventloop_lag_max_seconds');
      expect(await gauge(registry, 'nodejs_eventloop_lag_min_seconds')).toBe(0);
      // The next request starts it again.
      monitor.touch();
      expect(monitor.sampling).toBe(true);
    } finally {
      monitor.close();
    }
    expect(monitor.sampling).toBe(false);
  });

  it('registers the gauges prom-client names, with their help texts', async () => {
    const registry = new Registry();
    const monitor = createEventLoopMonitor(registry);
    try {
      const names = (await registry.getMetricsAsJSON()).map((metric) => metric.name).sort();
      expect(names).toEqual([...EVENT_LOOP_DELAY_GAUGES].sort());
      expect(EVENT_LOOP_DELAY_GAUGES).toContain('nodejs_eventloop_lag_p99_seconds');
    } finally {
      monitor.close();
    }
  });
});
