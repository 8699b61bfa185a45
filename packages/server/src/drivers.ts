// The database drivers are optional peer dependencies: `npm i -g hmac-kit` must not build a
// native addon (better-sqlite3) for someone who only signs requests. They are loaded when a
// database that needs them is opened, and their absence is one line saying how to add them.
import type BetterSqlite3 from 'better-sqlite3';
import type Pg from 'pg';

/** A database driver that is not installed; `message` is the one line that says how to add it. */
export class DriverMissing extends Error {
  readonly code = 'ERR_DRIVER_MISSING';
  /** The npm package to install, e.g. `better-sqlite3`. */
  readonly driver: string;

  constructor(driver: string, database: string) {
    super(
      `${database} needs the ${driver} package, which is not installed: run "npm install ${driver}" ` +
        `(add -g when hmac-kit is installed globally)`,
    );
    this.name = 'DriverMissing';
    this.driver = driver;
  }
}

function isMissing(error: unknown, driver: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // Only the driver itself: a driver that is there but misses one of its own dependencies, or
  // whose native addon fails to load, must show that error, not a misleading "not installed".
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    typeof message === 'string' &&
    message.includes(`'${driver}'`)
  );
}

/**
 * Loads better-sqlite3, or throws {@link DriverMissing} when it is not installed.
 *
 * @example
 * ```ts
 * const Database = await loadSqliteDriver();
 * const database = new Database('./hmac-kit.db');
 * ```
 */
export async function loadSqliteDriver(): Promise<typeof BetterSqlite3> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (error) {
    if (isMissing(error, 'better-sqlite3')) throw new DriverMissing('better-sqlite3', 'SQLite');
    throw error;
  }
}

/**
 * Loads pg (node-postgres), or throws {@link DriverMissing} when it is not installed.
 *
 * @example
 * ```ts
 * const pg = await loadPostgresDriver();
 * const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1/app' });
 * ```
 */
export async function loadPostgresDriver(): Promise<typeof Pg> {
  try {
    return (await import('pg')).default;
  } catch (error) {
    if (isMissing(error, 'pg')) throw new DriverMissing('pg', 'PostgreSQL');
    throw error;
  }
}
