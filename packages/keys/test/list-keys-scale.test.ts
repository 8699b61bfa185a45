/**
 * Key listings stay fast with 100,000 keys: a page is an index seek plus the rows it returns,
 * however deep it is (keyset pagination, never OFFSET). Shown without timing anything absolute:
 * SQLite's and PostgreSQL's own query plans for the exact statements the store runs (no full
 * scan, no sort, rows read bounded by the page size), and for the memory store the time of a page
 * over 100,000 keys as a ratio of the same page over 1,000 keys, measured side by side.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeyService,
  type KeyRow,
  type KeyService,
  type KeyStore,
  memoryKeyStore,
  type PrincipalRow,
  postgresKeyStore,
  sqliteKeyStore,
} from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres, type TestSchema } from '../../../test-support/postgres.js';
import { testRing } from './conformance/key-store.js';

const KEYS = 100_000;
const PAGE = 50;
const START = 1_700_000_000_000;

/** `count` keys over `count / 10` principals, one in three revoked, created one millisecond apart. */
function rows(count: number): { principals: PrincipalRow[]; keys: KeyRow[] } {
  // Random ids, as issued ones are (generateKeyId's base62 conversion is too slow for 100,000).
  const random = randomBytes(11 * count).toString('hex');
  const principals: PrincipalRow[] = [];
  const keys: KeyRow[] = [];
  for (let i = 0; i < count; i++) {
    const principal = `p-${i % (count / 10)}`;
    if (i < count / 10) {
      principals.push({
        name: principal,
        kind: 'service',
        disabled: false,
        passwordHash: null,
        createdAt: START,
        disabledAt: null,
      });
    }
    keys.push({
      keyId: `hk_${random.slice(22 * i, 22 * i + 22)}`,
      principal,
      algorithm: 'sha256',
      scopes: [],
      label: null,
      createdAt: START + i,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: i % 3 === 0 ? START + count : null,
      revokedReason: null,
      rateLimit: null,
      rotatedFrom: null,
      // Listing never decrypts: the ciphertext only has to be there.
      masterKeyId: 'mk-test',
      secretCiphertext: 'x'.repeat(80),
    });
  }
  return { principals, keys };
}

async function seed(store: KeyStore, count: number): Promise<KeyRow[]> {
  const { principals, keys } = rows(count);
  for (let i = 0; i < keys.length; i += 10_000)
    await store.importRows!(i === 0 ? principals : [], keys.slice(i, i + 10_000));
  return keys;
}

/** The listings a console or CLI asks for: first pages, deep pages, both orders, per principal. */
async function pagesOf(service: KeyService, keys: readonly KeyRow[]): Promise<void> {
  const first = await service.listKeys({ limit: PAGE, order: 'newest' });
  expect(first.items).toHaveLength(PAGE);
  expect((await service.listKeys({ limit: PAGE, order: 'newest', after: first.next! })).items).toHaveLength(PAGE);
  // A cursor at the 99,000th key. The format is opaque to callers; the test builds one for a key it knows.
  const position = keys[keys.length - 1000]!;
  const cursorAt = (order: 'oldest' | 'newest') =>
    Buffer.from(JSON.stringify({ l: 'k', o: order, c: position.createdAt, k: position.keyId })).toString('base64url');
  for (const order of ['oldest', 'newest'] as const) {
    const after = cursorAt(order);
    const live = await service.listKeys({ order, limit: PAGE, after });
    expect(live.items).toHaveLength(PAGE);
    expect(live.items.every((key) => key.status === 'active')).toBe(true);
    const all = await service.listKeys({ order, limit: PAGE, after, includeRevoked: true });
    expect(all.items).toHaveLength(PAGE);
  }
  const principal = position.principal;
  const own = await service.listKeys({ principal, order: 'newest', includeRevoked: true, limit: 5 });
  expect(own.items.map((key) => key.principal)).toEqual(Array(5).fill(principal));
  expect(own.next).not.toBeNull();
  expect(
    (await service.listKeys({ principal, order: 'newest', includeRevoked: true, limit: 5, after: own.next! })).items,
  ).toHaveLength(5);
}

describe('listKeys with 100,000 keys: SQLite', () => {
  let dir: string;
  let database: Database.Database;
  let service: KeyService;
  let keys: KeyRow[];
  const statements: { text: string; parameters: unknown[] }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hmac-kit-scale-'));
    database = new Database(join(dir, 'keys.db'));
    // Records every statement the store runs with its parameters, to ask SQLite for its plan.
    const recording: SqliteDatabase = {
      close: () => database.close(),
      prepare(text) {
        const statement = database.prepare(text);
        const record = (parameters: unknown) => {
          if (/from "hk_key"/.test(text) && /order by/.test(text))
            statements.push({ text, parameters: parameters as unknown[] });
        };
        return {
          reader: statement.reader,
          all: (parameters: ReadonlyArray<unknown>) => {
            record(parameters);
            return statement.all(...parameters);
          },
          run: (parameters: ReadonlyArray<unknown>) => statement.run(...parameters),
          iterate: (parameters: ReadonlyArray<unknown>) => {
            record(parameters);
            return statement.iterate(...parameters);
          },
        } as unknown as ReturnType<SqliteDatabase['prepare']>;
      },
    };
    const store = sqliteKeyStore({ database: recording });
    await store.migrate();
    // Seeded with one prepared statement in one transaction (importRows takes ~6 s for this many).
    const seeded = rows(KEYS);
    keys = seeded.keys;
    const principal = database.prepare(
      'insert into hk_principal (name, kind, disabled, created_at) values (?, ?, 0, ?)',
    );
    const key = database.prepare(
      `insert into hk_key (key_id, principal, algorithm, scopes, created_at, revoked_at, master_key_id, secret_ciphertext)
       values (?, ?, 'sha256', '[]', ?, ?, ?, ?)`,
    );
    database.transaction(() => {
      for (const row of seeded.principals) principal.run(row.name, row.kind, row.createdAt);
      for (const row of keys)
        key.run(row.keyId, row.principal, row.createdAt, row.revokedAt, row.masterKeyId, row.secretCiphertext);
    })();
    database.exec('analyze');
    service = await createKeyService({ store, masterKeys: testRing(), checkMasterKeys: false });
  });

  afterAll(async () => {
    await service?.close();
    database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every page with an index seek: no full scan, no sort', async () => {
    statements.length = 0;
    await pagesOf(service, keys);
    expect(statements.length).toBeGreaterThanOrEqual(8);
    for (const { text, parameters } of statements) {
      const plan = database
        .prepare(`explain query plan ${text}`)
        .all(...parameters)
        .map((row) => (row as { detail: string }).detail);
      // SQLite says "SCAN hk_key" for a full table scan and "USE TEMP B-TREE FOR ORDER BY" for a sort.
      expect(plan.join('\n'), text).not.toMatch(/SCAN hk_key(?! USING)|TEMP B-TREE/);
      expect(plan.join('\n'), text).toMatch(
        /USING (INDEX|PRIMARY KEY|COVERING INDEX|INTEGER PRIMARY KEY)|hk_key_\w+_idx|sqlite_autoindex/,
      );
    }
  });
});

describeWithPostgres('listKeys with 100,000 keys: PostgreSQL', () => {
  let schema: TestSchema;
  let pool: pg.Pool;
  let service: KeyService;
  let keys: KeyRow[];
  const statements: { text: string; values: unknown[] }[] = [];

  beforeAll(async () => {
    schema = await createTestSchema();
    pool = schema.pool();
    // Records the listing statements the store sends (Kysely calls client.query(text, values)).
    const proxies = new WeakMap<pg.PoolClient, pg.PoolClient>();
    const recordingPool = {
      connect: async () => {
        const client = await pool.connect();
        const known = proxies.get(client);
        if (known) return known;
        const proxy = new Proxy(client, {
          get(target, property, receiver) {
            if (property !== 'query') return Reflect.get(target, property, receiver);
            return (text: unknown, values: unknown[]) => {
              if (typeof text === 'string' && /from "hk_key"/.test(text) && /order by/.test(text))
                statements.push({ text, values });
              return target.query(text as string, values);
            };
          },
        });
        proxies.set(client, proxy);
        return proxy;
      },
      end: () => pool.end(),
    };
    const store = postgresKeyStore({ pool: recordingPool as unknown as pg.Pool, listen: false });
    await store.migrate();
    // Seeded with one statement over arrays (importRows takes ~12 s for this many).
    const seeded = rows(KEYS);
    keys = seeded.keys;
    await pool.query(
      `insert into hk_principal (name, kind, disabled, created_at) select name, 'service', 0, $2 from unnest($1::text[]) as name`,
      [seeded.principals.map((row) => row.name), START],
    );
    await pool.query(
      `insert into hk_key (key_id, principal, algorithm, scopes, created_at, revoked_at, master_key_id, secret_ciphertext)
       select key_id, principal, 'sha256', '[]', created_at, revoked_at, 'mk-test', $5
       from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) as t(key_id, principal, created_at, revoked_at)`,
      [
        keys.map((row) => row.keyId),
        keys.map((row) => row.principal),
        keys.map((row) => row.createdAt),
        keys.map((row) => row.revokedAt),
        'x'.repeat(80),
      ],
    );
    await pool.query('analyze hk_key');
    service = await createKeyService({ store, masterKeys: testRing(), checkMasterKeys: false });
  }, 120_000);

  afterAll(async () => {
    await service?.close();
    await schema?.drop();
  });

  it('reads about one page of rows per page, deep or not: no sequential scan', async () => {
    statements.length = 0;
    await pagesOf(service, keys);
    expect(statements.length).toBeGreaterThanOrEqual(8);
    for (const { text, values } of statements) {
      const result = await pool.query(`explain (analyze, format json) ${text}`, values);
      const plan = (result.rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan;
      const nodes = flatten(plan);
      expect(
        nodes.map((node) => node['Node Type']),
        text,
      ).not.toContain('Seq Scan');
      // A sort is fine over one principal's few keys; over the table it would show in the rows touched.
      // Rows a scan produced plus rows it read and threw away: bounded by the page, not the table.
      const touched = Math.max(
        ...nodes.map(
          (node) => (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) + (node['Rows Removed by Filter'] ?? 0),
        ),
      );
      expect(touched, text).toBeLessThanOrEqual(3 * (PAGE + 1));
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}

describe('listKeys with 100,000 keys: memory', () => {
  it('a deep page over 100,000 keys costs about what it costs over 1,000 (ratio, measured side by side)', async () => {
    const stores = await Promise.all(
      [KEYS, 1_000].map(async (count) => {
        const store = memoryKeyStore();
        const keys = await seed(store, count);
        return { store, keys };
      }),
    );
    const [large, small] = stores as [(typeof stores)[0], (typeof stores)[0]];
    // The same request against both: the page after the key 1,000 from the end.
    const deepPage = (entry: typeof large) => {
      const position = entry.keys[entry.keys.length - 500]!;
      return () => entry.store.listKeys({ after: position, limit: PAGE, newestFirst: true });
    };
    const medianMicros = async (run: () => Promise<unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < 301; i++) {
        const started = process.hrtime.bigint();
        await run();
        samples.push(Number(process.hrtime.bigint() - started) / 1000);
      }
      return samples.sort((a, b) => a - b)[150]!;
    };
    const runLarge = deepPage(large);
    const runSmall = deepPage(small);
    expect(await runLarge()).toHaveLength(PAGE);
    expect(await runSmall()).toHaveLength(PAGE);
    // Interleaved rounds so a busy machine slows both sides alike; the best round counts.
    let best = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 3; round++) {
      const largeMicros = await medianMicros(runLarge);
      const smallMicros = await medianMicros(runSmall);
      best = Math.min(best, largeMicros / smallMicros);
    }
    // Sorting or filtering all keys per page would make this about 100.
    expect(best).toBeLessThan(4);
  });
});
