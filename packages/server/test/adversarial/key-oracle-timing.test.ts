import { randomBytes } from 'node:crypto';
import { generateKeyId } from '@hmac-kit/keys';
import type { RunningServer } from '@hmac-kit/server';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { send, signed } from '../../../../test-support/cli-client.js';
import { describeWithServices, pgUrl } from '../../../../test-support/services.js';
import { issueKey, startInProcess } from '../support/in-process.js';

// Issue #11 defect 7b: on PostgreSQL an unknown key id cost ~3.5 ms against ~1.5 ms for a known key
// with a wrong signature (76-85% of single requests told apart): every unknown id was a database
// read, a cached key was not. Unknown ids are now answered from the key service's in-memory index of
// stored ids. The test sends both kinds interleaved (so drift of a loaded machine hits both alike),
// many times, and asks a rank test (Mann-Whitney U) whether the two samples differ: they must not.

const PAIRS = 200;

/** Two-sided Mann-Whitney U test, normal approximation with tie correction: the z statistic. */
function mannWhitneyZ(a: readonly number[], b: readonly number[]): number {
  const all = [...a.map((value) => ({ value, group: 0 })), ...b.map((value) => ({ value, group: 1 }))].sort(
    (x, y) => x.value - y.value,
  );
  const ranks = new Array<number>(all.length);
  let tieTerm = 0;
  for (let start = 0; start < all.length; ) {
    let end = start;
    while (end + 1 < all.length && all[end + 1]!.value === all[start]!.value) end++;
    const rank = (start + end) / 2 + 1;
    for (let index = start; index <= end; index++) ranks[index] = rank;
    const ties = end - start + 1;
    tieTerm += ties ** 3 - ties;
    start = end + 1;
  }
  let rankSumA = 0;
  all.forEach((entry, index) => {
    if (entry.group === 0) rankSumA += ranks[index]!;
  });
  const n1 = a.length;
  const n2 = b.length;
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const n = n1 + n2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  return (u - mean) / Math.sqrt(variance);
}

it('Mann-Whitney z separates clearly different samples and not equal ones', () => {
  const low = Array.from({ length: 100 }, (_, index) => 1 + (index % 10) / 100);
  const high = low.map((value) => value + 1);
  expect(Math.abs(mannWhitneyZ(low, high))).toBeGreaterThan(8);
  expect(Math.abs(mannWhitneyZ(low, [...low].reverse()))).toBeLessThan(0.5);
});

describeWithServices(
  'adversarial: unknown key ids cost what known ones do (PostgreSQL, issue #11 defect 7b)',
  { postgres: true },
  () => {
    const databaseName = `hmac_kit_oracle_${randomBytes(6).toString('hex')}`;
    let server: RunningServer;

    beforeAll(async () => {
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`create database ${databaseName}`);
      await admin.end();
      const url = new URL(pgUrl);
      url.pathname = `/${databaseName}`;
      server = await startInProcess({ database: url.toString() });
    }, 60_000);

    afterAll(async () => {
      await server?.close();
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`drop database if exists ${databaseName} with (force)`);
      await admin.end();
    });

    it('interleaved wrong signatures for a known key and for unknown ids are not told apart by timing', async () => {
      const known = await issueKey(server, 'timing-owner');
      // The owner is active: its key is in this instance's cache, as in the reported measurement.
      expect((await send(await signed(known, 'GET', `${server.url}/v1/whoami`))).status).toBe(200);
      const wrongSecret = `hks_${randomBytes(32).toString('base64url')}`;
      const timed = async (keyId: string, address: string): Promise<number> => {
        const request = await signed({ keyId, secret: wrongSecret }, 'GET', `${server.url}/v1/whoami`);
        const started = process.hrtime.bigint();
        const answer = await send(request, { 'x-forwarded-for': address });
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
        // The same answer for both (no oracle in the body either).
        expect(answer.status).toBe(401);
        expect(answer.body.code).toBe('signature_invalid');
        return elapsed;
      };
      // Warm-up (JIT, connection pool) on both paths, not measured.
      for (let index = 0; index < 20; index++) {
        await timed(known.keyId, `203.0.113.${index + 1}`);
        await timed(generateKeyId(), `203.0.113.${index + 101}`);
      }
      /** One sample: PAIRS of each kind, interleaved, each from a fresh source address. */
      const sample = async (round: number): Promise<{ z: number; known: number[]; unknown: number[] }> => {
        const knownTimes: number[] = [];
        const unknownTimes: number[] = [];
        for (let index = 0; index < PAIRS; index++) {
          // A fresh source per request: the failure throttle must not answer 429 instead.
          const address = `10.${round * 2 + ((index >> 8) & 1)}.${index & 255}`;
          const first = index % 2 === 0;
          if (first) knownTimes.push(await timed(known.keyId, `${address}.1`));
          unknownTimes.push(await timed(generateKeyId(), `${address}.2`));
          if (!first) knownTimes.push(await timed(known.keyId, `${address}.1`));
        }
        return { z: mannWhitneyZ(knownTimes, unknownTimes), known: knownTimes, unknown: unknownTimes };
      };
      const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
      const report = (label: string, result: { z: number; known: number[]; unknown: number[] }) =>
        console.log(
          `key oracle timing (${label}): median known ${median(result.known).toFixed(3)} ms, unknown ${median(result.unknown).toFixed(3)} ms, ratio ${(median(result.unknown) / median(result.known)).toFixed(2)}, Mann-Whitney z ${result.z.toFixed(2)}`,
        );
      // |z| < 3.29: not separated at the 0.1% level (the old code gave a z far beyond it, run after run).
      // A loaded machine can push one sample past that bound by chance (seen once in session 18), so a
      // sample that crosses it is checked by a second, independent one: an oracle separates both, in the
      // same direction; chance does so about once in a million runs.
      const firstSample = await sample(0);
      report('sample 1', firstSample);
      if (Math.abs(firstSample.z) < 3.29) return;
      const secondSample = await sample(1);
      report('sample 2, confirming', secondSample);
      const sameDirection = Math.sign(secondSample.z) === Math.sign(firstSample.z);
      expect(sameDirection && Math.abs(secondSample.z) >= 3.29).toBe(false);
    }, 180_000);
  },
);
