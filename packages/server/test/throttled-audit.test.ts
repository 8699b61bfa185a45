/**
 * The audit summary of refusals of blocked sources (throttled-audit.ts): a bounded number of rows
 * per interval whatever the rate, every refusal counted in exactly one row, and the operator told
 * at once when an address starts being refused.
 */
import { describe, expect, it } from 'vitest';
import { createThrottledAudit, type ThrottledAuditRow } from '../src/throttled-audit.js';

function harness(options: { maxAddresses?: number } = {}) {
  const rows: ThrottledAuditRow[] = [];
  let tick: () => void = () => {};
  let stopped = false;
  let armed = 0;
  const audit = createThrottledAudit({
    write: async (row) => {
      rows.push(row);
    },
    intervalSeconds: 60,
    every: (ms, callback) => {
      expect(ms).toBe(60_000);
      armed++;
      stopped = false;
      tick = callback;
      return () => {
        stopped = true;
      };
    },
    ...options,
  });
  return { audit, rows, tick: () => tick(), stopped: () => stopped, armed: () => armed };
}

const refusedIn = (rows: readonly ThrottledAuditRow[], source?: string) =>
  rows.filter((row) => row.source === source).reduce((sum, row) => sum + row.detail.refused, 0);

describe('throttled audit: refusals of blocked sources, summarised per address', () => {
  it('runs its timer only while an address is tracked: none before a refusal, none once it is forgotten', async () => {
    const { audit, rows, tick, stopped, armed } = harness();
    // An idle server fires no timer (idle.test.ts): nothing is armed at creation.
    expect(armed()).toBe(0);
    audit.refused('203.0.113.7');
    audit.refused('203.0.113.7');
    expect(armed()).toBe(1);
    tick(); // the summary of the second refusal; the address is still tracked
    expect(stopped()).toBe(false);
    tick(); // a quiet interval: the address is forgotten, and the timer stops
    expect(stopped()).toBe(true);
    await audit.flush();
    expect(refusedIn(rows, '203.0.113.7')).toBe(2);
    // The next refusal is written at once and arms the timer again.
    audit.refused('203.0.113.7');
    expect(armed()).toBe(2);
    expect(stopped()).toBe(false);
    expect(rows.at(-1)).toEqual({
      code: 'ERR_TOO_MANY_FAILURES',
      source: '203.0.113.7',
      detail: { refused: 1, intervalSeconds: 60 },
    });
    await audit.close();
    expect(stopped()).toBe(true);
  });

  it('50 000 refusals of one address in an interval: one row at once, one summary at the end', async () => {
    const { audit, rows, tick } = harness();
    for (let index = 0; index < 50_000; index++) audit.refused('203.0.113.9');
    expect(rows).toEqual([
      { code: 'ERR_TOO_MANY_FAILURES', source: '203.0.113.9', detail: { refused: 1, intervalSeconds: 60 } },
    ]);
    tick();
    await Promise.resolve();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual({
      code: 'ERR_TOO_MANY_FAILURES',
      source: '203.0.113.9',
      detail: { refused: 49_999, intervalSeconds: 60 },
    });
    expect(refusedIn(rows, '203.0.113.9')).toBe(50_000);
  });

  it('a flood that goes on writes one row per interval; a quiet address is forgotten, then written at once again', async () => {
    const { audit, rows, tick } = harness();
    for (let interval = 0; interval < 5; interval++) {
      for (let index = 0; index < 1000; index++) audit.refused('198.51.100.1');
      tick();
    }
    await audit.flush();
    // 1 at once + 5 summaries.
    expect(rows).toHaveLength(6);
    expect(refusedIn(rows, '198.51.100.1')).toBe(5000);
    tick(); // a whole interval without refusals: forgotten, no row
    expect(rows).toHaveLength(6);
    audit.refused('198.51.100.1');
    expect(rows).toHaveLength(7);
    expect(rows[6]?.detail.refused).toBe(1);
  });

  it('each address gets its own rows; no row names a key id', async () => {
    const { audit, rows, tick } = harness();
    for (let index = 0; index < 10; index++) {
      audit.refused('192.0.2.1');
      audit.refused('192.0.2.2');
    }
    audit.refused(undefined);
    tick();
    await Promise.resolve();
    expect(refusedIn(rows, '192.0.2.1')).toBe(10);
    expect(refusedIn(rows, '192.0.2.2')).toBe(10);
    // Without an address: rows without a source.
    expect(refusedIn(rows, undefined)).toBe(1);
    expect(rows.every((row) => !('keyId' in row))).toBe(true);
  });

  it('beyond maxAddresses the refusals of further addresses are summed into one row per interval', async () => {
    const { audit, rows, tick } = harness({ maxAddresses: 100 });
    for (let index = 0; index < 10_000; index++) audit.refused(`10.0.${index >> 8}.${index & 255}`);
    // 100 tracked addresses written at once; the 9 900 others only counted.
    expect(rows).toHaveLength(100);
    tick();
    await Promise.resolve();
    const untracked = rows.filter((row) => row.detail.untrackedAddresses === true);
    expect(untracked).toEqual([
      { code: 'ERR_TOO_MANY_FAILURES', detail: { refused: 9_900, intervalSeconds: 60, untrackedAddresses: true } },
    ]);
    // Every refusal is in exactly one row, and an interval wrote at most 2 x maxAddresses + 1 rows.
    expect(rows.reduce((sum, row) => sum + row.detail.refused, 0)).toBe(10_000);
    expect(rows.length).toBeLessThanOrEqual(201);
  });

  it('close() stops the timer and writes the last counts; a failing write goes to onError', async () => {
    const { audit, rows, stopped } = harness();
    audit.refused('192.0.2.7');
    audit.refused('192.0.2.7');
    await audit.close();
    expect(stopped()).toBe(true);
    expect(refusedIn(rows, '192.0.2.7')).toBe(2);

    const errors: unknown[] = [];
    const failing = createThrottledAudit({
      write: () => Promise.reject(new Error('database down')),
      onError: (error) => errors.push(error),
      every: () => () => {},
    });
    failing.refused('192.0.2.8');
    failing.refused('192.0.2.8');
    await failing.close();
    expect(errors).toHaveLength(2);
  });
});
