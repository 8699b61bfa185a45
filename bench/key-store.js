// Benchmark 4a: key lookups through the key service's resolver (what every verification
// calls), 100k keys seeded with @hmac-kit/keys' seedKeys(): warm cache vs cold (cache
// disabled: every lookup reads the row and decrypts the secret) on SQLite and PostgreSQL.
//
//   npx tsc -b && node bench/key-store.js [--quick]
//
// PostgreSQL: HMAC_KIT_BENCH_PG_URL, else HMAC_KIT_TEST_PG_URL, else postgresql://postgres@127.0.0.1:5432/test
// (a private schema is created and dropped; skipped with a notice when unreachable).
// The keys package has its own, broader lookup benchmark: packages/keys/bench/key-lookup.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createKeyService, createMasterKeyRing, postgresKeyStore, seedKeys, sqliteKeyStore } from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import pg from 'pg';
import { formatInteger, quick, table } from './support.js';

const keyCount = Number(process.env.HMAC_KIT_BENCH_KEYS ?? (quick ? 10_000 : 100_000));
const durationMs = Number(process.env.HMAC_KIT_BENCH_MS ?? (quick ? 400 : 1500));
const pgUrl =
  process.env.HMAC_KIT_BENCH_PG_URL ?? process.env.HMAC_KIT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** Runs `operation` with `inFlight` concurrent callers for `durationMs`; ops/s and latency quantiles (µs). */
async function measure(operation, inFlight) {
  for (let index = 0; index < 200; index++) await operation(index);
  const latencies = [];
  let counter = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const began = performance.now();
        await operation(counter++);
        latencies.push(performance.now() - began);
      }
    }),
  );
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 1000;
  return { opsPerSecond: (latencies.length / elapsed) * 1000, p50: at(0.5), p99: at(0.99) };
}

async function bench(backend, store, rows) {
  const masterKeys = createMasterKeyRing([{ id: 'bench', key: randomBytes(32) }]);
  const seeded = performance.now();
  const keys = await seedKeys({ store, masterKeys, count: keyCount, batchSize: 5000 });
  console.log(
    `[${backend}] seeded ${formatInteger(keyCount)} keys in ${((performance.now() - seeded) / 1000).toFixed(1)} s`,
  );
  // A stride through all keys: consecutive lookups never hit the same rows.
  const pick = (index) => keys[(index * 7919) % keys.length].keyId;
  const expect = async (resolver, keyId) => {
    if (!(await resolver(keyId))) throw new Error(`key ${keyId} not found`);
  };

  const warm = await createKeyService({ store, masterKeys, cache: { maxEntries: 20_000 } });
  const workingSet = Math.min(10_000, keys.length);
  for (let index = 0; index < workingSet; index++) await expect(warm.resolver, pick(index));
  const warmResult = await measure((index) => expect(warm.resolver, pick(index % workingSet)), 1);
  rows.push([`${backend}, warm cache (10k hot keys)`, 1, ...cells(warmResult)]);
  await warm.close();

  const cold = await createKeyService({ store, masterKeys, cache: { maxEntries: 0, maxNegativeEntries: 0 } });
  for (const inFlight of [1, 16]) {
    const result = await measure((index) => expect(cold.resolver, pick(index + inFlight * 1_000_000)), inFlight);
    rows.push([`${backend}, cold (no cache: row read + decrypt)`, inFlight, ...cells(result)]);
  }
  await cold.close();
}

function cells(result) {
  return [formatInteger(result.opsPerSecond), result.p50.toFixed(1), result.p99.toFixed(1)];
}

export async function main() {
  const rows = [];
  const notes = [];
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-bench-keys-'));
  try {
    const database = new Database(join(dir, 'keys.db'));
    const store = sqliteKeyStore({ database });
    await bench('SQLite (file, WAL)', store, rows);
    await store.close();
    database.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const schema = `hk_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
  let connected = false;
  try {
    await admin.connect();
    connected = true;
    await admin.query(`create schema ${schema}`);
    const pool = new pg.Pool({ connectionString: pgUrl, options: `-c search_path=${schema}`, max: 16 });
    pool.on('error', () => undefined);
    const store = postgresKeyStore({ pool, notifyChannel: schema });
    try {
      await bench('PostgreSQL (local)', store, rows);
    } finally {
      await store.close();
      await pool.end();
      await admin.query(`drop schema ${schema} cascade`);
    }
  } catch (error) {
    notes.push(`PostgreSQL at ${pgUrl} unreachable or failed (${error.message}): PostgreSQL rows skipped.`);
  } finally {
    if (connected) await admin.end();
  }

  console.log(
    `\n## 4a. Key store: KeyService resolver, ${formatInteger(keyCount)} keys, ${durationMs} ms per case (wall clock)\n`,
  );
  console.log(table(['lookup', 'in flight', 'ops/s', 'p50 µs', 'p99 µs'], rows));
  for (const note of notes) console.log(note);
  return [];
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
