/**
 * Schema migrations as code objects (no files on disk), run by Kysely's Migrator.
 * Column types are chosen to mean the same thing on SQLite and PostgreSQL: times are
 * epoch milliseconds in `bigint`, booleans are 0/1 integers, lists/objects are JSON text.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { MigrationSummary } from '../ports/lifecycle.js';
import { Migrator, sql } from './kysely-runtime.js';

export type SqlFlavor = 'sqlite' | 'postgres';

/** Names of tables this package owns (all prefixed so they can share a database). */
export const MIGRATION_TABLE = 'hk_migration';
export const MIGRATION_LOCK_TABLE = 'hk_migration_lock';

// biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists.
type AnyDb = Kysely<any>;

function migrations(flavor: SqlFlavor): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('hk_principal')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('password_hash', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('disabled_at', 'bigint')
          .execute();
        await db.schema
          .createTable('hk_key')
          .addColumn('key_id', 'text', (c) => c.primaryKey())
          .addColumn('principal', 'text', (c) => c.notNull().references('hk_principal.name'))
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('label', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .addColumn('revoked_reason', 'text')
          .addColumn('rate_limit', 'integer')
          .addColumn('rate_window_seconds', 'integer')
          .addColumn('rotated_from', 'text')
          .addColumn('master_key_id', 'text', (c) => c.notNull())
          .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('hk_key_principal_idx').on('hk_key').columns(['principal', 'created_at']).execute();
        await db.schema
          .createIndex('hk_key_master_key_idx')
          .on('hk_key')
          .columns(['master_key_id', 'key_id'])
          .execute();
        await db.schema
          .createTable('hk_master_key_check')
          .addColumn('master_key_id', 'text', (c) => c.primaryKey())
          .addColumn('check_value', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        const serial = (table: string, column: string) =>
          flavor === 'postgres'
            ? db.schema.createTable(table).addColumn(column, 'bigserial', (c) => c.primaryKey())
            : db.schema.createTable(table).addColumn(column, 'integer', (c) => c.primaryKey().autoIncrement());
        await serial('hk_audit', 'id')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('principal', 'text')
          .addColumn('key_id', 'text')
          .addColumn('actor', 'text')
          .addColumn('source', 'text')
          .addColumn('code', 'text')
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('hk_audit_at_idx').on('hk_audit').column('at').execute();
        await db.schema.createIndex('hk_audit_key_idx').on('hk_audit').columns(['key_id', 'id']).execute();
        await db.schema.createIndex('hk_audit_principal_idx').on('hk_audit').columns(['principal', 'id']).execute();
        await serial('hk_key_change', 'seq')
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('hk_key_change_at_idx').on('hk_key_change').column('at').execute();
      },
      async down(db: AnyDb) {
        for (const table of ['hk_key_change', 'hk_audit', 'hk_master_key_check', 'hk_key', 'hk_principal']) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      },
    },
    // Keyset pagination of key and principal listings, and the audit trail filtered by event.
    // Key ids (and principal names) are ordered in byte order on every backend: PostgreSQL's
    // default collation depends on the server's locale, so its indexes name the "C" collation.
    '0002_listing_indexes': {
      async up(db: AnyDb) {
        const byteOrder = (column: string) => sql.raw(flavor === 'postgres' ? `${column} collate "C"` : column);
        await sql`create index hk_key_created_idx on hk_key (created_at, ${byteOrder('key_id')})`.execute(db);
        // The default listing leaves revoked keys out: a partial index keeps those pages dense.
        await sql`create index hk_key_live_created_idx on hk_key (created_at, ${byteOrder('key_id')}) where revoked_at is null`.execute(
          db,
        );
        await sql`create index hk_key_principal_created_idx on hk_key (principal, created_at, ${byteOrder('key_id')})`.execute(
          db,
        );
        // Superseded by hk_key_principal_created_idx (same leading columns).
        await db.schema.dropIndex('hk_key_principal_idx').ifExists().execute();
        if (flavor === 'postgres')
          await sql`create index hk_principal_name_bytes_idx on hk_principal (${byteOrder('name')})`.execute(db);
        await db.schema.createIndex('hk_audit_type_idx').on('hk_audit').columns(['type', 'id']).execute();
      },
      async down(db: AnyDb) {
        for (const index of [
          'hk_key_created_idx',
          'hk_key_live_created_idx',
          'hk_key_principal_created_idx',
          'hk_principal_name_bytes_idx',
          'hk_audit_type_idx',
        ]) {
          await db.schema.dropIndex(index).ifExists().execute();
        }
        await db.schema.createIndex('hk_key_principal_idx').on('hk_key').columns(['principal', 'created_at']).execute();
      },
    },
    // Per-key scheme usage (issue #12, migration aid): one row per (key, scheme), counts added by
    // upserts. Ids and scheme names in byte order on PostgreSQL (the "C" collation), so the primary
    // key serves the listing's keyset pagination.
    '0003_key_usage': {
      async up(db: AnyDb) {
        const bytes = flavor === 'postgres' ? sql.raw(' collate "C"') : sql.raw('');
        await sql`create table hk_key_usage (
          key_id text${bytes} not null,
          scheme text${bytes} not null,
          uses bigint not null,
          first_used_at bigint not null,
          last_used_at bigint not null,
          primary key (key_id, scheme)
        )`.execute(db);
      },
      async down(db: AnyDb) {
        await db.schema.dropTable('hk_key_usage').ifExists().execute();
      },
    },
  };
}

/** Applies every pending migration; throws the migration error when one fails. */
export async function runMigrations(db: AnyDb, flavor: SqlFlavor, schema?: string): Promise<MigrationSummary> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(flavor) };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    // Kysely checks for its tables by introspecting every schema; naming ours keeps a
    // same-named table in another schema of the database from being mistaken for it.
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  // Kysely's check for its own tables lists every table of the database (PostgresIntrospector.getTables),
  // and PostgreSQL answers 42P01/3F000 for that catalog query when another schema's table is dropped
  // while it runs (another tenant, another test). Nothing has been applied then: try again a few times.
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (error && attempt < 5 && isConcurrentCatalogChange(error)) continue;
    if (error) throw error;
    return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
  }
}

/** undefined_table / invalid_schema_name: a relation or schema vanished under a catalog read. */
function isConcurrentCatalogChange(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '42P01' || code === '3F000';
}
