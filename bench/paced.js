// Benchmark 3's paced comparison (bench/http.js), the pure part: which fixed request rate a with/without
// pair is measured at, what the pair's rounds add up to, and the PASS/FAIL line judged on them.
// Tested by test/bench-paced.test.ts; types in bench/paced.d.ts.
//
// Why: server CPU per request falls as req/s rises (more requests per event-loop wake-up, per epoll
// call, per write), and at saturation a row with authentication runs at a lower req/s than its row
// without, so the difference of two saturated rows mixes the authentication's cost with that rate
// effect (session 12 close: an Express pair whose rounds spread 171-279 µs read "+3 µs"; the gateway's
// "-14 µs"). Both rows of a pair paced at one rate that both sustain compare like with like.
import { formatInteger, median } from './support.js';

/**
 * The paced rate as a fraction of the slower row's saturating rate: far enough below it that the slower
 * row still sustains it in a round slower than the median one (the saturating rounds of one row spread
 * by 20-30% on this machine), near enough that the server is busy (at a few hundred req/s every request
 * is a wake-up of its own and the per-wake-up cost both rows share swamps what the pair differs by).
 */
export const PACED_FRACTION = 0.6;

/** How far the rate actually sent and answered may be from the rate asked (relative): 3%. */
export const RATE_TOLERANCE = 0.03;

/** `value` rounded down to two significant digits (3,004 -> 3,000; 8,151 -> 8,100; 987 -> 980; 0 -> 0). */
export function roundDownTwoDigits(value) {
  if (!(value > 0) || !Number.isFinite(value)) return 0;
  const step = 10 ** Math.max(0, Math.floor(Math.log10(value)) - 1);
  return Math.floor(value / step) * step;
}

/**
 * The one rate both rows of a pair are paced at: `fraction` of the slower row's saturating req/s,
 * rounded down to two significant digits (a round figure to read and to repeat). 0 when a row has no
 * rate (it answered nothing): such a pair cannot be paced.
 */
export function pacedRate(saturatingRates, fraction = PACED_FRACTION) {
  if (saturatingRates.length === 0) return 0;
  return roundDownTwoDigits(Math.min(...saturatingRates) * fraction);
}

/** Whether a paced run sent (and got answered) the rate asked, within `tolerance` either way. */
export function rateHeld(asked, got, tolerance = RATE_TOLERANCE) {
  return asked > 0 && Math.abs(got / asked - 1) <= tolerance;
}

/**
 * One row's paced rounds ({ requestsPerSecond, cpuMicrosPerRequest }, one per round): the medians
 * and the spreads.
 */
function rowSummary(rounds) {
  const cpu = rounds.map((r) => r.cpuMicrosPerRequest);
  const got = rounds.map((r) => r.requestsPerSecond);
  return {
    cpu: median(cpu),
    cpuRange: [Math.min(...cpu), Math.max(...cpu)],
    got: median(got),
    gotRange: [Math.min(...got), Math.max(...got)],
  };
}

/**
 * A pair paced at `rate`: `withRounds` and `withoutRounds` are the rows' rounds in round order (round i
 * of one row ran right beside round i of the other). `added` and `ratio` compare the median rounds;
 * `addedRange` is the spread of the per-round differences. `held`: both rows' median rounds got the
 * asked rate within `tolerance`; `short` names the rows that did not ('with', 'without').
 */
export function comparePaced({ rate, withRounds, withoutRounds, tolerance = RATE_TOLERANCE }) {
  if (withRounds.length === 0 || withRounds.length !== withoutRounds.length) {
    throw new TypeError(`paced pair: ${withRounds.length} rounds with, ${withoutRounds.length} without`);
  }
  const withRow = rowSummary(withRounds);
  const withoutRow = rowSummary(withoutRounds);
  const differences = withRounds.map((r, index) => r.cpuMicrosPerRequest - withoutRounds[index].cpuMicrosPerRequest);
  const short = [];
  if (!rateHeld(rate, withRow.got, tolerance)) short.push('with');
  if (!rateHeld(rate, withoutRow.got, tolerance)) short.push('without');
  return {
    rate,
    tolerance,
    with: withRow,
    without: withoutRow,
    added: withRow.cpu - withoutRow.cpu,
    addedRange: [Math.min(...differences), Math.max(...differences)],
    ratio: withRow.cpu / withoutRow.cpu,
    held: short.length === 0,
    short,
  };
}

/**
 * The most of one core a row's server may be busy (its CPU µs per request x the rate) at the rate its pair is
 * paced at (issue #15, session 19). 60% of the slower row's saturating rate does not leave that: CPU per request
 * at a paced rate is 1.2-1.6x what it is at saturation (fewer requests per wake-up, code and data fetched again
 * per lone request), so the session 18 close run had the Express row with authentication busy 94-98% of a core at
 * 60% of its saturating rate, and the gateway's verifying row likewise: neither held the rate, and a server that
 * close to a full core turns every GC pause or other tenant into dropped send slots (rounds 201-265 µs for the
 * Express row without authentication at 78%). 70% leaves room for both.
 */
export const PACED_MAX_BUSY = 0.7;

/** How busy (fraction of one core) a row's server was in a probe at a paced rate: CPU µs/req x req/s. */
export function busyFraction(probe) {
  return (probe.cpuMicrosPerRequest * probe.requestsPerSecond) / 1e6;
}

/**
 * The rate to probe next, or `rate` itself when it stays: when the busier row of a pair was busy more than
 * `maxBusy` of a core in the probe at `rate`, the rate at which it would be at `maxBusy` with the CPU per request
 * it had (rounded down to two digits; CPU per request rises a little as the rate falls, hence a probe again).
 * The rate depends only on how busy the servers are, never on the difference between the rows.
 */
export function lowerPacedRate(rate, busy, maxBusy = PACED_MAX_BUSY) {
  if (!(busy > maxBusy)) return rate;
  return roundDownTwoDigits((rate * maxBusy) / busy);
}

/** A difference with its sign: +12, -3 (whole µs). */
export const signedInteger = (value) => `${value >= 0 ? '+' : ''}${formatInteger(value)}`;

/**
 * The PASS/FAIL line of an issue #15 target judged on a paced pair: `measure` 'added' (µs, with minus
 * without) or 'ratio' (with / without), at most `threshold`. The line says the rate both rows ran at.
 * A pair whose rate was not held is not judged: FAIL, and the line says which row got what.
 * `names`: { with, without } (row names, for the "not held" text). `retriedFrom`: the first attempt's rate when
 * `comparison` is the pair's second attempt (pacedRetries), said in the line.
 */
export function pacedVerdict({ label, comparison, measure, threshold, names, retriedFrom }) {
  const how = retriedFrom
    ? `paced, second attempt: ${formatInteger(retriedFrom)} req/s asked first was not held`
    : 'paced';
  const value = measure === 'ratio' ? comparison.ratio : comparison.added;
  const unit = measure === 'ratio' ? 'x' : ' µs';
  const shown = `${value.toFixed(measure === 'ratio' ? 2 : 1)}${unit}`;
  const target = `(target <= ${threshold}${unit})`;
  const cpus =
    measure === 'ratio'
      ? ` (${formatInteger(comparison.with.cpu)} vs ${formatInteger(comparison.without.cpu)} µs)`
      : '';
  if (!comparison.held) {
    const rows = comparison.short
      .map((side) => {
        const got = comparison[side].got;
        const off = ((got / comparison.rate - 1) * 100).toFixed(1);
        return `${names[side]} got ${formatInteger(got)} req/s, ${got >= comparison.rate ? '+' : ''}${off}%`;
      })
      .join('; ');
    return {
      passed: false,
      line:
        `FAIL  ${label} at ${formatInteger(comparison.rate)} req/s asked (${how}): rate not held (${rows}; ` +
        `tolerance ${+(comparison.tolerance * 100).toFixed(2)}%): ${shown} not judged ${target}`,
    };
  }
  const passed = value <= threshold;
  return {
    passed,
    line: `${passed ? 'PASS' : 'FAIL'}  ${label} at ${formatInteger(comparison.rate)} req/s both (${how})${cpus}: ${shown} ${target}`,
  };
}

/**
 * How far below what the slower row got a pair's second attempt is paced (before rounding down to two digits):
 * 5%, a little more than RATE_TOLERANCE, so a row that fell short by a few percent in the first attempt has room.
 */
export const PACED_RETRY_MARGIN = 0.05;

/**
 * The second chance of paced pairs whose rate was not held (issue #15: the session 22 start run, de8002a, lost
 * the Fastify verdict to a no-auth row that got 13,496 of 14,000 req/s asked, -3.6%, after its probe had
 * accepted 14,000). `pairs`: [{ id, measure ('added', 'ratio' or undefined for an info pair), comparison (from
 * comparePaced), attempts (how many times its rounds ran: 1 after the first) }]. Returns [{ id, from, rate,
 * got: { with, without }, busy }] for the pairs to run again (same rounds, warm-up and alternation) at `rate`:
 *
 * - only pairs whose rate was not held (`comparison.held` false), run once (`attempts` 1): at most one re-run;
 * - never a pair judged on a ratio: a lower rate adds per-wake-up cost to both rows, which moves a ratio towards
 *   1, so a re-run at a lower rate would flatter it (the gateway keeps its rate and stays unjudged);
 * - the new rate is the lower of the probe's rule on the rounds (lowerPacedRate with the busier row's median
 *   round: CPU µs/req x req/s got) and what the slower row got less `margin`, rounded down to two digits, and
 *   never above the first attempt's rate less `margin`: always strictly lower, never raised. It is decided on
 *   how busy the servers were and what rate they got, never on the difference between the rows. This is
 *   sound for an "added" figure (with minus without) because a lower rate does not flatter it: CPU per request
 *   rises as the rate falls (fewer requests per wake-up), for both rows alike;
 * - no re-run when that rate is 0.
 */
export function pacedRetries(pairs, { maxBusy = PACED_MAX_BUSY, margin = PACED_RETRY_MARGIN } = {}) {
  const retries = [];
  for (const { id, measure, comparison, attempts } of pairs) {
    if (measure === 'ratio' || attempts !== 1 || !comparison || comparison.held) continue;
    const from = comparison.rate;
    const busy = {
      with: busyFraction({ cpuMicrosPerRequest: comparison.with.cpu, requestsPerSecond: comparison.with.got }),
      without: busyFraction({ cpuMicrosPerRequest: comparison.without.cpu, requestsPerSecond: comparison.without.got }),
    };
    const slowerGot = Math.min(from, comparison.with.got, comparison.without.got);
    const byBusy = maxBusy > 0 ? lowerPacedRate(from, Math.max(busy.with, busy.without), maxBusy) : from;
    const rate = roundDownTwoDigits(Math.min(byBusy, slowerGot * (1 - margin), from * (1 - margin)));
    if (!(rate > 0 && rate < from)) continue;
    retries.push({ id, from, rate, got: { with: comparison.with.got, without: comparison.without.got }, busy });
  }
  return retries;
}
