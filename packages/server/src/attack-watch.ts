/**
 * Notices when one name (a key id, a user name) collects many authentication failures from many
 * source addresses. The throttles block sources only (never a name for everyone: that would hand
 * anyone who knows a key id or a user name a way to lock its owner out), so an attack spread over
 * many addresses is slowed per address but not stopped; this is what keeps it visible to an
 * operator, as an audit event and a metric, once per name per window.
 */

/** Options of {@link createAttackWatch}. */
export interface AttackWatchOptions {
  /** Failures naming one name within `windowSeconds` before it counts as under attack. Default 20. */
  minFailures?: number;
  /** Distinct source addresses among them. Default 5. */
  minSources?: number;
  /** Length of the window, and the shortest time between two reports for one name. Default 300. */
  windowSeconds?: number;
  /** Most names tracked at once (the oldest are dropped first). Default 10 000. */
  maxNames?: number;
  /** Current time in ms; injectable for tests. */
  now?: () => number;
}

/** What {@link AttackWatch.observe} reports when a name crosses the threshold. */
export interface AttackReport {
  name: string;
  failures: number;
  sources: number;
  windowSeconds: number;
}

export interface AttackWatch {
  /** Counts one failure naming `name` from `source`; returns a report the first time in a window the threshold is crossed. */
  observe(name: string, source: string | undefined): AttackReport | undefined;
}

interface Tally {
  started: number;
  failures: number;
  sources: Set<string>;
  reportedAt: number | undefined;
}

/** Distinct sources remembered per name: enough to cross any sensible `minSources`, bounded memory. */
const MAX_SOURCES_PER_NAME = 64;

/**
 * One in-process watch. Per instance: with several instances each reports what it sees (an attack
 * spread over instances crosses the threshold later, on each one).
 *
 * @example
 * ```ts
 * const watch = createAttackWatch({ minFailures: 20, minSources: 5 });
 * const report = watch.observe('hk_live_1', '203.0.113.7');
 * if (report) audit('key.under_attack', report);
 * ```
 */
export function createAttackWatch(options: AttackWatchOptions = {}): AttackWatch {
  const minFailures = options.minFailures ?? 20;
  const minSources = options.minSources ?? 5;
  const windowMs = (options.windowSeconds ?? 300) * 1000;
  const maxNames = options.maxNames ?? 10_000;
  const now = options.now ?? Date.now;
  for (const [name, value] of Object.entries({ minFailures, minSources, windowMs, maxNames })) {
    if (!Number.isFinite(value) || value <= 0) throw new TypeError(`createAttackWatch: ${name} must be positive`);
  }
  // Insertion order is age order: a Map drops its oldest entries first when full.
  const tallies = new Map<string, Tally>();
  return {
    observe(name, source) {
      const at = now();
      let tally = tallies.get(name);
      if (tally !== undefined && at - tally.started >= windowMs) {
        // A new window; a report less than a window ago still silences this one.
        const reportedAt = tally.reportedAt;
        tallies.delete(name);
        tally = undefined;
        if (reportedAt !== undefined && at - reportedAt < windowMs) {
          tally = { started: at, failures: 0, sources: new Set(), reportedAt };
          tallies.set(name, tally);
        }
      }
      if (tally === undefined) {
        if (tallies.size >= maxNames) {
          const oldest = tallies.keys().next().value;
          if (oldest !== undefined) tallies.delete(oldest);
        }
        tally = { started: at, failures: 0, sources: new Set(), reportedAt: undefined };
        tallies.set(name, tally);
      }
      tally.failures++;
      if (source !== undefined && tally.sources.size < MAX_SOURCES_PER_NAME) tally.sources.add(source);
      if (tally.failures < minFailures || tally.sources.size < minSources) return undefined;
      if (tally.reportedAt !== undefined && at - tally.reportedAt < windowMs) return undefined;
      tally.reportedAt = at;
      return { name, failures: tally.failures, sources: tally.sources.size, windowSeconds: windowMs / 1000 };
    },
  };
}
