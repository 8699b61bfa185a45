import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
  type ScryptParams,
  sqliteKeyStore,
} from '@hmac-kit/keys';
import { loadPostgresDriver, loadSqliteDriver } from './drivers.js';

export { DriverMissing, loadPostgresDriver, loadSqliteDriver } from './drivers.js';

/**
 * The embedded default database: `hmac-kit.db` in the project's `.hmac-kit/` folder, found from any
 * folder of the project (`projectDataDir()` below). Defined here rather than in config.ts so that the
 * CLI's store commands, which load this module, do not load the configuration schema (zod) too.
 */
export const DEFAULT_DATABASE = './.hmac-kit/hmac-kit.db';

/** Where the keys live and where the master key came from, for the start-up message. */
export interface StoreInfo {
  kind: 'sqlite' | 'postgres';
  /** SQLite file (absolute) or the PostgreSQL URL without its password. */
  location: string;
  masterKeySource: 'env' | 'file' | 'created';
  masterKeyFile?: string;
  /** Whether this call created the SQLite file. */
  createdDatabase?: boolean;
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

/** A `--db` value, a database or its location, the user must fix: the CLI prints it as one line. */
export class DatabaseLocationError extends Error {
  readonly code = 'ERR_DATABASE_LOCATION';
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseLocationError';
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The project's `.hmac-kit/` folder, found the same way from any folder of the project: the
 * nearest existing `.hmac-kit/` between `cwd` and the project root (the nearest folder with `.git`,
 * else with `package.json`), else `.hmac-kit/` in the project root (in `cwd` outside any project).
 * The search stops at the project root so that a stray `.hmac-kit/` further up (say in `/tmp`) is
 * never picked up by accident.
 *
 * @example
 * ```ts
 * projectDataDir('/srv/app/src/lib'); // '/srv/app/.hmac-kit' when /srv/app has .git or an existing .hmac-kit/
 * ```
 */
export function projectDataDir(cwd: string = process.cwd()): string {
  const start = resolve(cwd);
  const chain: string[] = [];
  for (let dir = start; ; dir = dirname(dir)) {
    chain.push(dir);
    if (dirname(dir) === dir) break;
  }
  const rootIndex = (marker: string) => chain.findIndex((dir) => existsSync(join(dir, marker)));
  const gitRoot = rootIndex('.git');
  const root = gitRoot !== -1 ? gitRoot : rootIndex('package.json');
  const searched = root === -1 ? [start] : chain.slice(0, root + 1);
  for (const dir of searched) {
    if (isDirectory(join(dir, '.hmac-kit'))) return join(dir, '.hmac-kit');
  }
  return join(searched.at(-1) ?? start, '.hmac-kit');
}

/** What a `--db` value names. */
export type DatabaseTarget =
  | { kind: 'postgres'; url: string }
  | { kind: 'memory' }
  | { kind: 'sqlite'; file: string; isDefault: boolean };

/**
 * Reads a `--db` / `HMAC_KIT_DATABASE_URL` value: a `postgres://` or `postgresql://` URL, `:memory:`,
 * or a SQLite file path (relative to `cwd`; {@link DEFAULT_DATABASE} means the project's
 * `.hmac-kit/hmac-kit.db`). Any other URL scheme (`mysql://`, a misspelt `postgress://`) is refused
 * rather than taken for a file name; so is a file in a folder that does not exist, since creating
 * folders from a typo is worse than saying so. Only the default `.hmac-kit/` folder is ever created.
 *
 * @example
 * ```ts
 * parseDatabaseTarget('postgres://app@db/app'); // { kind: 'postgres', url: 'postgres://app@db/app' }
 * parseDatabaseTarget('mysql://app@db/app');    // throws DatabaseLocationError
 * ```
 */
export function parseDatabaseTarget(database: string, cwd: string = process.cwd()): DatabaseTarget {
  if (isPostgres(database)) return { kind: 'postgres', url: database };
  if (database === ':memory:') return { kind: 'memory' };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(database)?.[1];
  if (scheme !== undefined) {
    throw new DatabaseLocationError(
      `unknown database URL scheme "${scheme}:": use postgres://user@host:port/database, or a SQLite file path`,
    );
  }
  if (database === DEFAULT_DATABASE) {
    return { kind: 'sqlite', file: join(projectDataDir(cwd), 'hmac-kit.db'), isDefault: true };
  }
  const file = resolve(cwd, database);
  if (isDirectory(file)) {
    throw new DatabaseLocationError(
      `database ${file} is a folder: give a file name, e.g. ${join(file, 'hmac-kit.db')}`,
    );
  }
  if (!isDirectory(dirname(file))) {
    throw new DatabaseLocationError(
      `database folder ${dirname(file)} does not exist: create it first, or give another --db (hmac-kit never creates folders)`,
    );
  }
  return { kind: 'sqlite', file, isDefault: false };
}

/** PostgreSQL SQLSTATE and network codes, in words. */
const DATABASE_ERRORS: Readonly<Record<string, string>> = {
  '3D000': 'database does not exist',
  '28P01': 'password authentication failed',
  '28000': 'authentication refused (no such role, or pg_hba.conf does not allow it)',
  '42501': 'permission denied',
  '53300': 'too many connections',
  '57P03': 'the server is starting up or shutting down',
  ECONNREFUSED: 'connection refused (is PostgreSQL running there?)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
};

/**
 * One line for a failure to reach or use the database, naming where (host and port, never the
 * password) and what the driver's code means: `3D000` becomes "database does not exist". Undefined
 * when the error is not a database error.
 *
 * @example
 * ```ts
 * describeDatabaseError(error, 'postgres://app:pw@db:5432/app');
 * // 'database postgres://app@db:5432/app: database does not exist (3D000)'
 * ```
 */
export function describeDatabaseError(error: unknown, database: string): string | undefined {
  const codes: string[] = [];
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  const known = codes.find((code) => DATABASE_ERRORS[code] !== undefined);
  const isStoreError = codes.includes('ERR_STORE_UNAVAILABLE') || known !== undefined;
  if (!isStoreError) return undefined;
  const where = isPostgres(database) ? postgresWhere(database) : `SQLite ${database}`;
  const what = known ? `${DATABASE_ERRORS[known]} (${known})` : firstLine(error);
  return `database ${where}: ${what}`;
}

function postgresWhere(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
    return `postgres://${user}${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'postgres://(unparseable url)';
  }
}

function firstLine(error: unknown): string {
  return ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'failed').trim();
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
  /**
   * Whether a SQLite database that does not exist yet may be created. Default true; commands that
   * only read or change what exists pass false so that a wrong folder is an error, not a new,
   * empty database with its own master key.
   */
  createDatabase?: boolean;
  /** Apply pending migrations before anything else. Default true. */
  migrate?: boolean;
  /** Folder relative paths and the project's `.hmac-kit/` are found from. Default `process.cwd()`. */
  cwd?: string;
  /** scrypt cost of new password hashes (the key service's default, N=32768, r=8, p=1, unless given). */
  passwordHashing?: Partial<ScryptParams>;
}): Promise<OpenedKeys> {
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  const target = parseDatabaseTarget(options.database, options.cwd);
  const createMasterKey = options.createMasterKey !== false;
  try {
    let store: KeyStore;
    let info: Omit<StoreInfo, 'masterKeySource' | 'masterKeyFile'>;
    let defaultKeyFile: string;
    let createdDatabase = false;
    if (target.kind === 'postgres') {
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
      defaultKeyFile = join(projectDataDir(options.cwd), 'master-keys.json');
    } else {
      // Before anything is created on disk: a missing driver leaves no folder or file behind.
      const Database = await loadSqliteDriver();
      const file = target.kind === 'memory' ? ':memory:' : target.file;
      const isNew = file !== ':memory:' && !existsSync(file);
      if (isNew && options.createDatabase === false) {
        throw new DatabaseLocationError(
          `no database at ${file}: hmac-kit serve or hmac-kit principals add creates one there, or give --db / HMAC_KIT_DATABASE_URL`,
        );
      }
      // Only the project's default .hmac-kit/ folder is created; other folders must exist.
      if (target.kind === 'sqlite' && target.isDefault) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const database = new Database(file);
      // Only ciphertext is stored, but the file still maps key ids to principals: keep it private.
      if (isNew) chmodSync(file, 0o600);
      createdDatabase = isNew;
      closers.push(() => {
        database.close();
      });
      store = sqliteKeyStore({ database, autoMigrate: false });
      info = { kind: 'sqlite', location: file };
      defaultKeyFile = defaultMasterKeyFilePath(
        file === ':memory:' ? join(projectDataDir(options.cwd), 'memory.db') : file,
      );
    }
    closers.push(() => store.close());
    const migrations = options.migrate === false ? { applied: [] } : await store.migrate();
    const usesDefaultKeyFile = !options.masterKeys && !options.masterKeyFile;
    if (usesDefaultKeyFile && !existsSync(defaultKeyFile)) {
      if (!createMasterKey) {
        throw new DatabaseLocationError(
          `no master key file at ${defaultKeyFile}: give --master-key-file or HMAC_KIT_MASTER_KEYS (the key the server uses)`,
        );
      }
      // A database that already holds secrets was set up with another master key: making a new one
      // here (a command run from another folder) could only fail later, after leaving a key file
      // behind and registering that key in the database.
      const encrypted = Object.entries(await store.countKeysByMasterKey()).filter(([, count]) => count > 0);
      if (encrypted.length > 0) {
        throw new DatabaseLocationError(
          `no master key file at ${defaultKeyFile}, and the database's secrets are encrypted under master key ${encrypted
            .map(([id]) => id)
            .join(
              ', ',
            )}: give --master-key-file (the file the server uses) or HMAC_KIT_MASTER_KEYS, or run from the folder the server runs in`,
        );
      }
      // Only the project's default .hmac-kit/ folder is created (or the folder beside a new SQLite file, which exists).
      mkdirSync(dirname(defaultKeyFile), { recursive: true, mode: 0o700 });
    }
    const masterKeys = await loadMasterKeys({
      env: options.masterKeys,
      file: options.masterKeyFile ?? (usesDefaultKeyFile && existsSync(defaultKeyFile) ? defaultKeyFile : undefined),
      createIfMissing: createMasterKey ? defaultKeyFile : undefined,
    });
    const keyService = await createKeyService({
      store,
      masterKeys: masterKeys.ring,
      maxActiveKeysPerPrincipal: options.maxKeysPerPrincipal,
      invalidationBus: options.invalidationBus,
      migrate: false,
      ...(options.passwordHashing ? { passwordHashing: options.passwordHashing } : {}),
    });
    closers.push(() => keyService.close());
    return {
      keyService,
      store,
      info: { ...info, masterKeySource: masterKeys.source, masterKeyFile: masterKeys.path, createdDatabase },
      migrations,
      masterKeys: masterKeys.ring,
      close: closeAll,
    };
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}
