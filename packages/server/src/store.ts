import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  createKeyService,
  defaultMasterKeyFilePath,
  type InvalidationBus,
  type KeyService,
  type KeyStore,
  loadMasterKeys,
  type MasterKeyRing,
  type MigrationSummary,
  postgresKeyStore,
  sqliteKeyStore,
} from '@hmac-kit/keys';
import { loadPostgresDriver, loadSqliteDriver } from './drivers.js';

export { DriverMissing, loadPostgresDriver, loadSqliteDriver } from './drivers.js';

/** Where the keys live and where the master key came from, for the start-up message. */
export interface StoreInfo {
  kind: 'sqlite' | 'postgres';
  /** SQLite file (absolute) or the PostgreSQL URL without its password. */
  location: string;
  masterKeySource: 'env' | 'file' | 'created';
  masterKeyFile?: string;
}

/** An opened key service plus what it took to open it. */
export interface OpenedKeys {
  keyService: KeyService;
  store: KeyStore;
  info: StoreInfo;
  /** Migrations applied while opening. */
  migrations: MigrationSummary;
  /** The master key ring in use (for imports and master key rotation). */
  masterKeys: MasterKeyRing;
  close(): Promise<void>;
}

function isPostgres(database: string): boolean {
  return /^postgres(ql)?:\/\//.test(database);
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/**
 * Opens the key store and key service the way `hmac-kit serve` and the CLI do: SQLite file
 * (created with its directory) or PostgreSQL URL, master keys from `HMAC_KIT_MASTER_KEYS`,
 * a key file, or the embedded default file beside the SQLite database (created 0600).
 *
 * @example
 * ```ts
 * const { keyService, close } = await openKeys({ database: './.hmac-kit/hmac-kit.db' });
 * ```
 */
export async function openKeys(options: {
  database: string;
  masterKeys?: string;
  masterKeyFile?: string;
  maxKeysPerPrincipal?: number;
  invalidationBus?: InvalidationBus;
  onStoreError?: (error: Error) => void;
  /** Whether to create the master key file when none is configured. Default true. */
  createMasterKey?: boolean;
  /** Apply pending migrations before anything else. Default true. */
  migrate?: boolean;
}): Promise<OpenedKeys> {
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    let store: KeyStore;
    let info: Omit<StoreInfo, 'masterKeySource' | 'masterKeyFile'>;
    let defaultKeyFile: string;
    if (isPostgres(options.database)) {
      // Loaded only for PostgreSQL: an optional peer dependency, and SQLite commands start faster without it.
      const pg = await loadPostgresDriver();
      const pool = new pg.Pool({
        connectionString: options.database,
        max: 10,
        connectionTimeoutMillis: 2_000,
        idleTimeoutMillis: 30_000,
      });
      // An idle client losing its connection emits here; unhandled, it would crash the process.
      pool.on('error', (error) => options.onStoreError?.(error));
      closers.push(() => pool.end());
      store = postgresKeyStore({ pool, autoMigrate: false });
      info = { kind: 'postgres', location: redactUrl(options.database) };
      defaultKeyFile = resolve('.hmac-kit', 'master-keys.json');
    } else {
      // Before anything is created on disk: a missing driver leaves no folder or file behind.
      const Database = await loadSqliteDriver();
      const file = options.database === ':memory:' ? ':memory:' : resolve(options.database);
      const isNew = file !== ':memory:' && !existsSync(file);
      if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const database = new Database(file);
      // Only ciphertext is stored, but the file still maps key ids to principals: keep it private.
      if (isNew) chmodSync(file, 0o600);
      closers.push(() => {
        database.close();
      });
      store = sqliteKeyStore({ database, autoMigrate: false });
      info = { kind: 'sqlite', location: file };
      defaultKeyFile = defaultMasterKeyFilePath(file === ':memory:' ? resolve('.hmac-kit', 'memory.db') : file);
    }
    closers.push(() => store.close());
    if (!options.masterKeys && !options.masterKeyFile && defaultKeyFile) {
      mkdirSync(dirname(defaultKeyFile), { recursive: true, mode: 0o700 });
    }
    const migrations = options.migrate === false ? { applied: [] } : await store.migrate();
    const masterKeys = await loadMasterKeys({
      env: options.masterKeys,
      file: options.masterKeyFile,
      createIfMissing: options.createMasterKey === false ? undefined : defaultKeyFile,
    });
    const keyService = await createKeyService({
      store,
      masterKeys: masterKeys.ring,
      maxActiveKeysPerPrincipal: options.maxKeysPerPrincipal,
      invalidationBus: options.invalidationBus,
      migrate: false,
    });
    closers.push(() => keyService.close());
    return {
      keyService,
      store,
      info: { ...info, masterKeySource: masterKeys.source, masterKeyFile: masterKeys.path },
      migrations,
      masterKeys: masterKeys.ring,
      close: closeAll,
    };
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}
