// The scheme-usage batcher's per-request shortcut (issue #15): a use of a pair already pending is
// counted without checking the key id and scheme again, and pairs are kept by key id, then scheme.
// Held here to the batcher as it was before (one map keyed by `${keyId} ${scheme}`, every check on
// every call), the reference below: same errors, same answers, same calls of onUse, same counts
// written, for any sequence of uses, flushes and a stop.

import type { KeyUsageDelta } from '@hmac-kit/keys';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlausibleKeyId } from '../src/ids.js';
import { createUsageBatcher } from '../src/usage-batcher.js';

const SCHEME = /^[\x21-\x7e]{1,64}$/;

/** The batcher before the shortcut, reduced to what a sequence of awaited calls observes. */
function referenceBatcher(intervalMs: number) {
  const pendingUsage = new Map<string, KeyUsageDelta>();
  const usageWrittenAt = new Map<string, number>();
  let stopped = false;
  let uses = 0;
  return {
    get uses() {
      return uses;
    },
    record(keyId: unknown, scheme: unknown, now: number): boolean {
      if (typeof keyId !== 'string' || typeof scheme !== 'string' || !SCHEME.test(scheme)) {
        throw new TypeError('recordKeyUsage: keyId and a scheme of 1-64 printable ASCII characters are required');
      }
      if (stopped || !isPlausibleKeyId(keyId)) return false;
      const pair = `${keyId} ${scheme}`;
      const pending = pendingUsage.get(pair);
      if (pending) {
        pending.count++;
        pending.lastUsedAt = Math.max(pending.lastUsedAt, now);
      } else if (pendingUsage.size < 100_000) {
        pendingUsage.set(pair, { keyId, scheme, count: 1, firstUsedAt: now, lastUsedAt: now });
      }
      uses++;
      return true;
    },
    flush(now: number, all: boolean): KeyUsageDelta[] {
      const due: KeyUsageDelta[] = [];
      for (const [pair, delta] of pendingUsage) {
        if (!all && now - (usageWrittenAt.get(pair) ?? Number.NEGATIVE_INFINITY) < intervalMs) continue;
        due.push({ ...delta });
        pendingUsage.delete(pair);
        usageWrittenAt.set(pair, now);
      }
      return due;
    },
    stop() {
      stopped = true;
    },
  };
}

const byPair = (a: KeyUsageDelta, b: KeyUsageDelta) =>
  a.keyId !== b.keyId ? (a.keyId < b.keyId ? -1 : 1) : a.scheme < b.scheme ? -1 : a.scheme > b.scheme ? 1 : 0;

// Mostly well-formed uses (so that pairs are pending when they recur, before and after a stop),
// and every kind of malformed one.
const keyIds = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      'hk_AAAAAAAAAAAAAAAAAAAAAA',
      'hk_BBBBBBBBBBBBBBBBBBBBBB',
      '0f8fad5b-d9cb-469f-a165-70867728950e',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'AKIDEXAMPLE',
      `hks_${'A'.repeat(43)}`, // a pasted secret: never counted
      'has space',
      '',
      'x'.repeat(128),
      'x'.repeat(129),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(42, undefined, null, { toString: () => 'hk_AAAAAAAAAAAAAAAAAAAAAA' }) },
);
const schemes = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('rfc9421', 'sigv4', 'x'.repeat(64)) },
  { weight: 1, arbitrary: fc.constantFrom('x-api', 'django-hmac', '', 'has space', 'x'.repeat(65), 'é') },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(7, undefined, { toString: () => 'rfc9421' }) },
);
const steps = fc.array(
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        kind: fc.constant('record' as const),
        keyId: keyIds,
        scheme: schemes,
        advance: fc.nat(40),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('flush' as const), all: fc.boolean(), advance: fc.nat(200) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('stop' as const) }) },
  ),
  { maxLength: 60 },
);

describe('scheme-usage batcher: a pending pair counted without the checks', () => {
  it('answers, throws, wakes and writes as the batcher that checked every use (property)', async () => {
    await fc.assert(
      fc.asyncProperty(steps, fc.boolean(), async (sequence, passNow) => {
        const intervalMs = 100;
        let now = 1_000;
        const written: KeyUsageDelta[][] = [];
        let wakes = 0;
        const usage = createUsageBatcher(
          { addKeyUsage: async (deltas) => void written.push(deltas.map((delta) => ({ ...delta }))) },
          { clock: () => now, intervalMs, onUse: () => wakes++ },
        );
        const reference = referenceBatcher(intervalMs);
        for (const step of sequence) {
          if (step.kind === 'stop') {
            usage.stop();
            reference.stop();
            continue;
          }
          now += step.advance;
          if (step.kind === 'flush') {
            const before = written.length;
            await usage.flush(step.all);
            const expected = reference.flush(now, step.all);
            const got = written.length > before ? (written.at(-1) as KeyUsageDelta[]) : [];
            expect(written.length - before).toBe(expected.length > 0 ? 1 : 0);
            expect([...got].sort(byPair)).toEqual([...expected].sort(byPair));
            continue;
          }
          const call = () =>
            passNow
              ? usage.record(step.keyId as string, step.scheme as string, now)
              : usage.record(step.keyId as string, step.scheme as string);
          let expected: boolean | 'TypeError';
          try {
            expected = reference.record(step.keyId, step.scheme, now);
          } catch (error) {
            expect(error).toBeInstanceOf(TypeError);
            expected = 'TypeError';
          }
          if (expected === 'TypeError') expect(call).toThrow(TypeError);
          else expect(call()).toBe(expected);
          expect(wakes).toBe(reference.uses);
        }
        // What is still pending is written in full, with the same counts.
        const before = written.length;
        await usage.flush(true);
        const rest = reference.flush(now, true);
        expect([...(written.length > before ? (written.at(-1) as KeyUsageDelta[]) : [])].sort(byPair)).toEqual(
          [...rest].sort(byPair),
        );
      }),
      { numRuns: 400 },
    );
  });

  it('keeps at most 100 000 pending pairs, and counts again once they are written', async () => {
    const written: KeyUsageDelta[][] = [];
    const usage = createUsageBatcher(
      { addKeyUsage: async (deltas) => void written.push([...deltas]) },
      { clock: () => 0, intervalMs: 1_000, onUse: () => undefined },
    );
    for (let index = 0; index < 100_000; index++) usage.record(`k${index}`, index % 2 === 0 ? 'rfc9421' : 'sigv4');
    expect(usage.record('k-over', 'rfc9421')).toBe(true); // counted as a use, not kept
    expect(usage.record('k0', 'rfc9421')).toBe(true); // an existing pair still adds up
    await usage.flush(true);
    expect(written[0]).toHaveLength(100_000);
    expect(written[0]?.find((delta) => delta.keyId === 'k0')?.count).toBe(2);
    expect(written[0]?.some((delta) => delta.keyId === 'k-over')).toBe(false);
    usage.record('k-over', 'rfc9421');
    await usage.flush(true);
    expect(written[1]).toEqual([{ keyId: 'k-over', scheme: 'rfc9421', count: 1, firstUsedAt: 0, lastUsedAt: 0 }]);
  });
});
