import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from './prom-client-runtime.js';

/** How often the event-loop delay histogram samples the loop while the server is serving. */
export const EVENT_LOOP_SAMPLE_MS = 20;
/** How long after the last request the sampling stops (an idle server then has no timer of its own). */
export const EVENT_LOOP_IDLE_AFTER_MS = 10_000;

/** The `nodejs_eventloop_lag_*_seconds` gauges prom-client's default metrics would register. */
const STATISTICS = [
  ['min', 'The minimum recorded event loop delay.', (h: IntervalHistogram) => h.min],
  ['max', 'The maximum recorded event loop delay.', (h: IntervalHistogram) => h.max],
  ['mean', 'The mean of the recorded event loop delays.', (h: IntervalHistogram) => h.mean],
  ['stddev', 'The standard deviation of the recorded event loop delays.', (h: IntervalHistogram) => h.stddev],
  ['p50', 'The 50th percentile of the recorded event loop delays.', (h: IntervalHistogram) => h.percentile(50)],
  ['p90', 'The 90th percentile of the recorded event loop delays.', (h: IntervalHistogram) => h.percentile(90)],
  ['p99', 'The 99th percentile of the recorded event loop delays.', (h: IntervalHistogram) => h.percentile(99)],
] as const;

/** Names of the gauges {@link createEventLoopMonitor} registers (prom-client's own must be removed first). */
export const EVENT_LOOP_DELAY_GAUGES = STATISTICS.map(([name]) => `nodejs_eventloop_lag_${name}_seconds`);

/** Event-loop delay sampling that runs only while requests arrive. */
export interface EventLoopMonitor {
  /** Marks activity (call once per request): starts sampling if it had stopped. Cheap: a counter and a branch. */
  touch(): void;
  /** Whether the loop is being sampled now. */
  readonly sampling: boolean;
  /** Stops sampling for good (server close). */
  close(): void;
}

/**
 * The event-loop delay statistics of prom-client's default metrics (`nodejs_eventloop_lag_p99_seconds`
 * and its siblings, same names and help), sampled only while the server is in use.
 *
 * prom-client samples with a native timer for the life of the process, which wakes an idle server's
 * main thread at its resolution (every 10 ms by default; once a second still kept two idle workers
 * above 0.1% of a core). Here the histogram is enabled by the first request and disabled once no
 * request has arrived for `idleAfterMs`, so an idle server has no timer at all. An idle loop has no
 * delay to report: between scrapes with no traffic the gauges read 0.
 *
 * @example
 * ```ts
 * const monitor = createEventLoopMonitor(registry);
 * server.on('request', () => monitor.touch());
 * ```
 */
export function createEventLoopMonitor(
  registry: Registry,
  options: { sampleMs?: number; idleAfterMs?: number } = {},
): EventLoopMonitor {
  const sampleMs = options.sampleMs ?? EVENT_LOOP_SAMPLE_MS;
  const idleAfterMs = options.idleAfterMs ?? EVENT_LOOP_IDLE_AFTER_MS;
  let histogram: IntervalHistogram | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let touches = 0;
  let touchesAtLastCheck = 0;
  let closed = false;

  // One check per idle period while busy (not one timer per request): stop once a whole period passed without a request.
  const checkIdle = () => {
    if (touches === touchesAtLastCheck) {
      histogram?.disable();
      idleTimer = undefined;
      return;
    }
    touchesAtLastCheck = touches;
    idleTimer = setTimeout(checkIdle, idleAfterMs);
    idleTimer.unref();
  };

  // As prom-client does: the first gauge's collect sets them all, then resets the histogram, so each
  // scrape covers the time since the previous one. A histogram with no sample reads min = 2^63: 0 then.
  const setAll = () => {
    const current = histogram && histogram.count > 0 ? histogram : undefined;
    for (const [index, [, , read]] of STATISTICS.entries()) gauges[index]?.set(current ? read(current) / 1e9 : 0);
    histogram?.reset();
  };
  const gauges: Gauge[] = STATISTICS.map(
    ([name, help], index) =>
      new Gauge({
        name: `nodejs_eventloop_lag_${name}_seconds`,
        help,
        registers: [registry],
        aggregator: 'average',
        ...(index === 0 ? { collect: setAll } : {}),
      }),
  );

  return {
    touch() {
      touches++;
      if (idleTimer !== undefined || closed) return;
      histogram ??= monitorEventLoopDelay({ resolution: sampleMs });
      histogram.enable();
      touchesAtLastCheck = touches;
      idleTimer = setTimeout(checkIdle, idleAfterMs);
      idleTimer.unref();
    },
    get sampling() {
      return idleTimer !== undefined;
    },
    close() {
      closed = true;
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = undefined;
      histogram?.disable();
    },
  };
}
