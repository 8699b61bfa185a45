/**
 * What every store command shares: the global options, opening the key service named by `--db`
 * (and closing it), and the wording of a missing key.
 */
import type { KeyService } from '@hmac-kit/keys';
import type { OpenedKeys } from '@hmac-kit/server/store';
import type { Command } from 'commander';
import { CliError, type Io, pathFrom } from '../output.js';

/** Global options every store command reads. */
export interface Globals {
  db?: string;
  json?: boolean;
  masterKeyFile?: string;
}

/**
 * Opens the key service named by `--db` / `HMAC_KIT_DATABASE_URL` (default: the project's
 * `.hmac-kit/hmac-kit.db`, found from any of its folders), runs `work`, closes it. Only commands
 * that add to the store (`create`) may create a database or a master key file, and they say so.
 */
export async function withKeys<T>(
  program: Command,
  io: Io,
  work: (keys: KeyService, opened: OpenedKeys) => Promise<T>,
  mode: { create?: boolean } = {},
): Promise<T> {
  const opened = await openStore(program, io, mode.create === true);
  try {
    return await work(opened.keyService, opened);
  } finally {
    await opened.close();
  }
}

/** {@link withKeys}' opening half, shared with `import django-hmac`; store errors become one line. */
export async function openStore(program: Command, io: Io, create: boolean): Promise<OpenedKeys> {
  const globals = program.opts<Globals>();
  // Loaded per command so `--help`, `request` and `sign` never pay for the database drivers.
  const { DEFAULT_DATABASE, DatabaseLocationError, describeDatabaseError, openKeys } = await import(
    '@hmac-kit/server/store'
  );
  const database = globals.db ?? (io.env.HMAC_KIT_DATABASE_URL || undefined) ?? DEFAULT_DATABASE;
  const masterKeyFile = globals.masterKeyFile ?? (io.env.HMAC_KIT_MASTER_KEY_FILE || undefined);
  let opened: OpenedKeys;
  try {
    opened = await openKeys({
      database,
      masterKeys: io.env.HMAC_KIT_MASTER_KEYS || undefined,
      masterKeyFile: masterKeyFile === undefined ? undefined : pathFrom(io, masterKeyFile),
      maxKeysPerPrincipal: io.env.HMAC_KIT_MAX_KEYS ? Number(io.env.HMAC_KIT_MAX_KEYS) : undefined,
      createDatabase: create,
      createMasterKey: create,
      cwd: io.cwd,
    });
  } catch (error) {
    if (error instanceof DatabaseLocationError) throw new CliError(error.message, 2);
    const described = describeDatabaseError(error, database);
    if (described !== undefined) throw new CliError(described);
    throw error;
  }
  if (opened.info.createdDatabase) io.stderr(`hmac-kit: created database ${opened.info.location}\n`);
  if (opened.info.masterKeySource === 'created') {
    io.stderr(`hmac-kit: created master key file ${opened.info.masterKeyFile} (0600); back it up\n`);
  }
  return opened;
}

/** The one wording for a key id that is not in the store, in every command. */
export function unknownKey(keyId: string): string {
  return `key ${keyId} does not exist`;
}

/** What a store command's registration needs: the program (its global options), the I/O, `--json`, the audit actor. */
export interface StoreCommandContext {
  program: Command;
  io: Io;
  /** Whether `--json` was given (read when the command runs, after parsing). */
  json: () => boolean;
  /** Who the audit log names for store commands. */
  actor: 'cli';
}
