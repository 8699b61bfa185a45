/**
 * The audit rows of refusals of blocked sources (`too_many_failures`), summarised per address. Such a
 * refusal is cheap for the client (nothing is verified), so one row each would turn a blocked client
 * sending 50 000 requests/s into a database write flood; and the key id it names was never tried, so a
 * row naming it would paint that key in the audit trail. Instead, per source address:
 *
 * - the first refusal of an address (or the first after it was quiet for a whole interval) writes one
 *   row at once, `detail.refused: 1`: the operator sees the block as it starts;
 * - the refusals after it are counted, and written as one row per address at the end of each
 *   interval, `detail.refused: <count>`; an address quiet for a whole interval is forgotten.
 *
 * Every refusal is in exactly one row's `detail.refused`. At most `maxAddresses` addresses are tracked
 * at once: the refusals of further addresses in an interval are summed into one row without a source
 * (`detail.untrackedAddresses: true`). So an interval writes at most 2 x `maxAddresses` + 1 rows,
 * however many refusals there are. No row names a key id.
 */

/** One summarising row, as `KeyService.recordAuthFailure` takes it. */
export interface ThrottledAuditRow {
  code: 'ERR_TOO_MANY_FAILURES';
  source?: string;
  detail: { refused: number; intervalSeconds: number; untrackedAddresses?: true };
}

/** Options of {@link createThrottledAudit}. */
export interface ThrottledAuditOptions {
  /** Writes one row (the server: `keyService.recordAuthFailure`). Its rejection is handed to `onError`. */
  write: (row: ThrottledAuditRow) => Promise<void>;
  /** A write that failed (the server counts it as an audit store error). */
  onError?: (error: unknown) => void;
  /** Length of one interval, in seconds. Default 60. */
  intervalSeconds?: number;
  /** Addresses tracked at once. Default 10 000. */
  maxAddresses?: number;
  /**
   * Calls `tick` every `ms` milliseconds and returns how to stop it. Default: an unref'd
   * `setInterval`. Injectable for tests.
   */
  every?: (ms: number, tick: () => void) => () => void;
}

/** What {@link createThrottledAudit} returns. */
export interface ThrottledAudit {
  /** One refusal of a blocked source. */
  refused(sourceAddress: string | undefined): void;
  /** Ends the interval now: writes the counts so far (the timer calls it every interval). */
  flush(): Promise<void>;
  /** Stops the timer and writes the counts so far (shutdown). */
  close(): Promise<void>;
}

const UNKNOWN = '';

function defaultEvery(ms: number, tick: () => void): () => void {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Creates the summary. Its interval timer runs only while some address is tracked.
 *
 * @example
 * ```ts
 * const throttledAudit = createThrottledAudit({ write: (row) => keyService.recordAuthFailure(row) });
 * if (error instanceof TooManyFailures) throttledAudit.refused(sourceAddress);
 * await throttledAudit.close(); // at shutdown: the counts of the last interval are written
 * ```
 */
export function createThrottledAudit(options: ThrottledAuditOptions): ThrottledAudit {
  const intervalSeconds = options.intervalSeconds ?? 60;
  const maxAddresses = options.maxAddresses ?? 10_000;
  for (const [name, value] of Object.entries({ intervalSeconds, maxAddresses })) {
    if (!Number.isFinite(value) || value <= 0) throw new TypeError(`createThrottledAudit: ${name} must be positive`);
  }
  const { write } = options;
  const onError = options.onError ?? (() => undefined);
  /** Refusals counted since the address's last row, per tracked address. */
  const pending = new Map<string, number>();
  let untracked = 0;

  const send = (row: ThrottledAuditRow): Promise<void> => {
    try {
      return write(row).catch(onError);
    } catch (error) {
      onError(error);
      return Promise.resolve();
    }
  };
  const rowOf = (address: string, refused: number): ThrottledAuditRow => ({
    code: 'ERR_TOO_MANY_FAILURES',
    ...(address === UNKNOWN ? {} : { source: address }),
    detail: { refused, intervalSeconds },
  });

  function flush(): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const [address, count] of pending) {
      if (count === 0) {
        // Quiet for a whole interval: its next refusal is written at once again.
        pending.delete(address);
        continue;
      }
      pending.set(address, 0);
      writes.push(send(rowOf(address, count)));
    }
    if (untracked > 0) {
      writes.push(
        send({
          code: 'ERR_TOO_MANY_FAILURES',
          detail: { refused: untracked, intervalSeconds, untrackedAddresses: true },
        }),
      );
      untracked = 0;
    }
    return Promise.all(writes).then(() => undefined);
  }

  // The timer runs only while something is tracked: an idle server fires no timer (idle.test.ts).
  // An address is forgotten one quiet interval after its last refusal, so the timer stops by
  // itself one or two intervals after the last refusal.
  const every = options.every ?? defaultEvery;
  let stop: (() => void) | undefined;
  const tick = (): void => {
    void flush();
    if (pending.size === 0 && untracked === 0 && stop !== undefined) {
      stop();
      stop = undefined;
    }
  };
  const arm = (): void => {
    if (stop === undefined) stop = every(intervalSeconds * 1000, tick);
  };

  return {
    refused(sourceAddress) {
      const address = sourceAddress ?? UNKNOWN;
      const count = pending.get(address);
      if (count !== undefined) {
        pending.set(address, count + 1);
        return;
      }
      arm();
      if (pending.size >= maxAddresses) {
        untracked++;
        return;
      }
      pending.set(address, 0);
      void send(rowOf(address, 1));
    },
    flush,
    close() {
      stop?.();
      stop = undefined;
      return flush();
    },
  };
}
