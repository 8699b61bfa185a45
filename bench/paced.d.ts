// Types of bench/paced.js (plain JavaScript: the benchmarks run under node without a build), for
// test/bench-paced.test.ts.

export declare const PACED_FRACTION: number;
export declare const RATE_TOLERANCE: number;

export declare function roundDownTwoDigits(value: number): number;
export declare function pacedRate(saturatingRates: readonly number[], fraction?: number): number;
export declare const PACED_MAX_BUSY: number;
export declare function busyFraction(probe: { cpuMicrosPerRequest: number; requestsPerSecond: number }): number;
export declare function lowerPacedRate(rate: number, busy: number, maxBusy?: number): number;
export declare function rateHeld(asked: number, got: number, tolerance?: number): boolean;

export interface PacedRound {
  /** Requests sent and answered per second (what was got, against the rate asked). */
  requestsPerSecond: number;
  /** Server CPU µs per request in that round. */
  cpuMicrosPerRequest: number;
}

export interface PacedRow {
  cpu: number;
  cpuRange: [number, number];
  got: number;
  gotRange: [number, number];
}

export interface PacedComparison {
  rate: number;
  tolerance: number;
  with: PacedRow;
  without: PacedRow;
  added: number;
  addedRange: [number, number];
  ratio: number;
  held: boolean;
  short: Array<'with' | 'without'>;
}

export declare function comparePaced(options: {
  rate: number;
  withRounds: readonly PacedRound[];
  withoutRounds: readonly PacedRound[];
  tolerance?: number;
}): PacedComparison;

export declare function signedInteger(value: number): string;

export declare function pacedVerdict(options: {
  label: string;
  comparison: PacedComparison;
  measure: 'added' | 'ratio';
  threshold: number;
  names: { with: string; without: string };
  retriedFrom?: number;
}): { passed: boolean; line: string };

export declare const PACED_RETRY_MARGIN: number;

export interface PacedRetry {
  id: string;
  /** The first attempt's rate (not held). */
  from: number;
  /** The second attempt's rate, always below `from`. */
  rate: number;
  /** What each row's median round got in the first attempt. */
  got: { with: number; without: number };
  /** How busy (fraction of a core) each row's median round was in the first attempt. */
  busy: { with: number; without: number };
}

export declare function pacedRetries(
  pairs: ReadonlyArray<{
    id: string;
    measure?: 'added' | 'ratio';
    comparison?: PacedComparison;
    attempts: number;
  }>,
  options?: { maxBusy?: number; margin?: number },
): PacedRetry[];
