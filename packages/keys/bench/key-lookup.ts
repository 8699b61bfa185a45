/**
 * Key lookup throughput with 100k keys: warm cache vs cold (every lookup reads the store
 * and decrypts), on memory, SQLite and PostgreSQL, plus unknown key ids.
 *
 *   npm run build && node --import tsx packages/keys/bench/key-lookup.ts [--quick]
 *
 * HMAC_KIT_BENCH_KEYS (default 100000, 10000 with --quick), HMAC_KIT_BENCH_MS per case
 * (default 2000), PostgreSQL at HMAC_KIT_BENCH_PG_URL / HMAC_KIT_TEST_PG_URL /
 * postgresql://postgres@127.0.0.1:5432/test (skipped with a notice when unreachable;
 * a private schema is created and dropped).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createKeyService,
  createMasterKeyRing,
  generateKeyId,
  type KeyStore,
  memoryKeyStore,
  postgresKeyStore,
  seedKeys,
  sqliteKeyStore,
} from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import pg from 'pg';

const quick = process.argv.includes('--quick') || process.env.HMAC_KIT_BENCH_QUICK === '1';
const keyCount = Number(process.env.HMAC_KIT_BENCH_KEYS ?? (quick ? 10_000 : 100_000));
const durationMs = Number(process.env.HMAC_KIT_BENCH_MS ?? (quick ? 500 : 2000));
const pgUrl =
  process.env.HMAC_KIT_BENCH_PG_URL ?? process.env.HMAC_KIT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const inFlight = 16;

interface Row {
  backend: string;
  warm: number;
  cold: number;
  unknown: number;
}

async function measure(operation: (index: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await operation(i);
  let done = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await operation(done++);
      }
    }),
  );
  return (done / (performance.now() - start)) * 1000;
}

async function bench(backend: string, store: KeyStore): Promise<Row> {
  const masterKeys = createMasterKeyRing([{ id: 'bench', key: randomBytes(32) }]);
  const seedStart = performance.now();
  const keys = await seedKeys({ store, masterKeys, count: keyCount, batchSize: 5000 });
  const seedSeconds = (performance.now() - seedStart) / 1000;
  console.error(
    `[${backend}] seeded ${keyCount} keys in ${seedSeconds.toFixed(1)} s (${Math.round(keyCount / seedSeconds)} keys/s)`,
  );
  const pick = (i: number) => keys[(i * 7919) % keys.length]!.keyId;

  // Warm: a 10k-key working set that fits the cache.
  const warmService = await createKeyService({ store, masterKeys, cache: { maxEntries: 20_000 } });
  const workingSet = Math.min(10_000, keys.length);
  for (let i = 0; i < workingSet; i++) await warmService.resolver(pick(i));
  const warm = await measure(async (i) => {
    if (!(await warmService.resolver(pick(i % workingSet)))) throw new Error('missing key');
  });
  // Unknown ids: first lookup goes to the store, repeats hit the negative cache; fresh ids each time here.
  const unknown = await measure(async () => {
    if (await warmService.resolver(generateKeyId())) throw new Error('phantom key');
  });
  await warmService.close();

  // Cold: no cache, every lookup reads the row and decrypts the secret.
  const coldService = await createKeyService({
    store,
    masterKeys,
    cache: { maxEntries: 0, maxNegativeEntries: 0 },
    lastUsedIntervalMs: Number(process.env.LU ?? 60_000),
  });
  const cold = await measure(async (i) => {
    if (!(await coldService.resolver(pick(i)))) throw new Error('missing key');
  });
  await coldService.close();
  return { backend, warm, cold, unknown };
}

const rows: Row[] = [];
rows.push(await bench('memory', memoryKeyStore()));

const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-bench-keys-'));
try {
  const database = new Database(join(dir, 'keys.db'));
  rows.push(await bench('sqlite (file, WAL)', sqliteKeyStore({ database })));
  database.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const schema = `hk_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
let adminConnected = false;
try {
  await admin.connect();
  adminConnected = true;
  await admin.query(`create schema ${schema}`);
  const pool = new pg.Pool({ connectionString: pgUrl, options: `-c search_path=${schema}`, max: inFlight });
  pool.on('error', () => undefined);
  const store = postgresKeyStore({ pool, notifyChannel: schema });
  try {
    rows.push(await bench('postgresql (local)', store));
  } finally {
    await store.close();
    await pool.end();
    await admin.query(`drop schema ${schema} cascade`);
  }
} catch (error) {
  console.error(`[postgresql] skipped: ${(error as Error).message}`);
} finally {
  if (adminConnected) await admin.end();
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`key lookups, ${keyCount.toLocaleString('en-US')} keys, ${inFlight} in flight, ${durationMs} ms per case`);
console.log(
  `${'backend'.padEnd(22)} ${'warm ops/s'.padStart(14)} ${'cold ops/s'.padStart(12)} ${'unknown ops/s'.padStart(14)} ${'warm/cold'.padStart(10)}`,
);
for (const row of rows) {
  console.log(
    `${row.backend.padEnd(22)} ${fmt(row.warm).padStart(14)} ${fmt(row.cold).padStart(12)} ${fmt(row.unknown).padStart(14)} ${`${(row.warm / row.cold).toFixed(1)}x`.padStart(10)}`,
  );
}
