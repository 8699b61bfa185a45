import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { KeyAlgorithm, KeyRow, PrincipalRow } from '@hmac-kit/keys';
import type { Command } from 'commander';
import { CliError, type Io, pathFrom, print } from './output.js';
import { openStore } from './store-commands/context.js';

/** One `django_hmac_authentication_apihmackey` row, joined with its owner from `auth_user`. */
interface DjangoKey {
  /** The key id as stored (SQLite keeps UUIDs as 32 hex digits, PostgreSQL as `uuid`). */
  rawId: string;
  userId: string;
  /** `undefined` when the row's user_id has no `auth_user` row. */
  username: string | undefined;
  userActive: boolean;
  secretCiphertext: string;
  salt: string;
  cipher: string;
  revoked: boolean;
  expiresAt: number | null;
}

/** What the import did with one row. */
interface RowFailure {
  keyId: string;
  reason: string;
}

const CIPHERS: Record<string, string> = { 'AES-256': 'aes-256-cbc', 'CAMELLIA-256': 'camellia-256-cbc' };
const HEX_UUID = /^[0-9a-f]{32}$/;
const KEY_TABLE = 'django_hmac_authentication_apihmackey';

/**
 * Decrypts a django_hmac_authentication secret at rest (vevde_security_utils 2.x): key =
 * PBKDF2-HMAC-SHA256(HMAC_KD_PASSWORD or SECRET_KEY, salt, 1000), iv = last 16 salt bytes,
 * AES-256-CBC or CAMELLIA-256-CBC with PKCS#7. Returns the raw secret bytes.
 *
 * @example
 * ```ts
 * const secret = decryptDjangoSecret({ secretCiphertext, salt, cipher: 'AES-256' }, process.env.HMAC_KD_PASSWORD!);
 * ```
 */
export function decryptDjangoSecret(
  row: { secretCiphertext: string; salt: string; cipher: string },
  password: string,
): Uint8Array {
  const algorithm = CIPHERS[row.cipher];
  if (!algorithm) throw new Error(`unsupported cipher_algorithm ${JSON.stringify(row.cipher)}`);
  const salt = Buffer.from(row.salt, 'base64');
  // vevde_security_utils always makes 24-byte salts; the IV is its last 16 bytes.
  if (salt.length < 16) throw new Error('bad salt (fewer than 16 bytes)');
  const ciphertext = Buffer.from(row.secretCiphertext, 'base64');
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new Error('bad secret ciphertext length');
  const key = pbkdf2Sync(password, salt, 1000, 32, 'sha256');
  const decipher = createDecipheriv(algorithm, key, salt.subarray(salt.length - 16));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new Error('cannot decrypt (wrong HMAC_KD_PASSWORD/SECRET_KEY?)');
  }
  // django_hmac_authentication 5.x secrets are 32 random bytes; anything else means the wrong password
  // happened to leave valid padding, or a pre-5.0 (block-128 padded) row.
  if (plain.length !== 32) throw new Error('cannot decrypt (wrong HMAC_KD_PASSWORD/SECRET_KEY?)');
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

/** `f4c3801c-a277-4fcb-92bb-44cb814026f6` from either storage form, or undefined if not a UUID. */
function canonicalUuid(raw: string): string | undefined {
  const hex = raw.replace(/-/g, '').toLowerCase();
  if (!HEX_UUID.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function principalName(username: string): string {
  const cleaned = username.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 128);
  return cleaned || 'django-user';
}

/** Django DateTimeField values: SQLite text `2024-01-02 03:04:05.123456` (UTC with USE_TZ), PostgreSQL `Date`. */
function toEpochMs(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) return value.getTime();
  const text = String(value).trim().replace(' ', 'T');
  const withZone = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`;
  const parsed = Date.parse(withZone);
  if (!Number.isFinite(parsed)) throw new Error(`unparseable expires_at ${JSON.stringify(String(value))}`);
  return parsed;
}

function toBoolean(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

interface RawKeyRow {
  id: unknown;
  user_id: unknown;
  secret: unknown;
  salt: unknown;
  cipher_algorithm: unknown;
  revoked: unknown;
  expires_at: unknown;
  username: unknown;
  is_active: unknown;
}

function fromRaw(row: RawKeyRow): DjangoKey | RowFailure {
  const rawId = String(row.id ?? '');
  let expiresAt: number | null;
  try {
    expiresAt = toEpochMs(row.expires_at);
  } catch (error) {
    return { keyId: rawId, reason: (error as Error).message };
  }
  return {
    rawId,
    userId: String(row.user_id ?? ''),
    username: row.username === null || row.username === undefined ? undefined : String(row.username),
    userActive: row.is_active === null || row.is_active === undefined ? true : toBoolean(row.is_active),
    secretCiphertext: String(row.secret ?? ''),
    salt: String(row.salt ?? ''),
    cipher:
      row.cipher_algorithm === null || row.cipher_algorithm === undefined ? 'AES-256' : String(row.cipher_algorithm),
    revoked: toBoolean(row.revoked),
    expiresAt,
  };
}

/** Where the key owners live: `auth_user` unless the project swapped AUTH_USER_MODEL. */
interface UserTable {
  table: string;
  usernameColumn: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * The query for both SQLite and PostgreSQL. cipher_algorithm and expires_at arrived in later
 * migrations (0006, 0003), and custom user models may lack is_active: missing columns read as
 * their defaults. Identifiers were checked against {@link IDENTIFIER} and come from the schema.
 */
function selectKeys(keyColumns: ReadonlySet<string>, users: UserTable, userColumns: ReadonlySet<string>): string {
  const cipher = keyColumns.has('cipher_algorithm') ? 'k.cipher_algorithm' : "'AES-256' as cipher_algorithm";
  const expires = keyColumns.has('expires_at') ? 'k.expires_at' : 'null as expires_at';
  const active = userColumns.has('is_active') ? 'u.is_active' : 'null as is_active';
  const order = keyColumns.has('created_at') ? 'k.created_at, k.id' : 'k.id';
  return `select k.id, k.user_id, k.secret, k.salt, ${cipher}, k.revoked, ${expires}, u."${users.usernameColumn}" as username, ${active} from ${KEY_TABLE} k left join "${users.table}" u on u.id = k.user_id order by ${order}`;
}

/** Checks the tables exist (one clear line if not) and builds the query. */
function planQuery(
  where: string,
  keyColumns: ReadonlySet<string>,
  users: UserTable,
  userColumns: ReadonlySet<string>,
): string {
  if (keyColumns.size === 0) {
    throw new CliError(`${where}: no ${KEY_TABLE} table (not a django_hmac_authentication database)`, 2);
  }
  if (userColumns.size === 0) {
    throw new CliError(`${where}: no ${users.table} table (custom user model? use --user-table)`, 2);
  }
  if (!userColumns.has(users.usernameColumn)) {
    throw new CliError(`${where}: ${users.table} has no ${users.usernameColumn} column (use --username-column)`, 2);
  }
  return selectKeys(keyColumns, users, userColumns);
}

/** `file` as given (for messages); `path` is where it is opened ({@link pathFrom}). */
async function readSqlite(file: string, path: string, users: UserTable): Promise<Array<DjangoKey | RowFailure>> {
  if (!existsSync(path)) throw new CliError(`cannot read ${file}: no such file`, 2);
  const { loadSqliteDriver } = await import('@hmac-kit/server/store');
  const Database = await loadSqliteDriver();
  let database: InstanceType<typeof Database>;
  try {
    database = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new CliError(`cannot open ${file} as SQLite: ${(error as Error).message}`, 2);
  }
  try {
    const columnsOf = (table: string) =>
      new Set(
        (database.prepare('select name from pragma_table_info(?)').all(table) as Array<{ name: string }>).map(
          (column) => column.name,
        ),
      );
    const query = planQuery(file, columnsOf(KEY_TABLE), users, columnsOf(users.table));
    return (database.prepare(query).all() as RawKeyRow[]).map(fromRaw);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${file}: ${(error as Error).message}`, 2);
  } finally {
    database.close();
  }
}

async function readPostgres(url: string, users: UserTable): Promise<Array<DjangoKey | RowFailure>> {
  const { loadPostgresDriver } = await import('@hmac-kit/server/store');
  const pg = await loadPostgresDriver();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // An idle connection dropped by the server must surface as a query error, not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new CliError(`cannot connect to the django database: ${(error as Error).message}`, 1);
  }
  try {
    const columnsOf = async (table: string) => {
      // The first schema on the search path holding the table, as unqualified names resolve.
      const { rows } = await client.query<{ column_name: string }>(
        `select c.column_name from information_schema.columns c
         where c.table_name = $1 and c.table_schema = (
           select s from unnest(current_schemas(false)) with ordinality as p(s, i)
           where exists (select 1 from information_schema.tables t where t.table_schema = p.s and t.table_name = $1)
           order by i limit 1)`,
        [table],
      );
      return new Set(rows.map((row) => row.column_name));
    };
    const query = planQuery(
      'the django database (search_path)',
      await columnsOf(KEY_TABLE),
      users,
      await columnsOf(users.table),
    );
    // pg hands uuid columns back as text and timestamptz as Date.
    const { rows } = await client.query<RawKeyRow>(query);
    return rows.map(fromRaw);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`reading the django database failed: ${(error as Error).message}`, 1);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function readDumpdata(file: string, path: string): Array<DjangoKey | RowFailure> {
  let entries: unknown;
  try {
    entries = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code ? `cannot read ${file}: ${code}` : `${file} is not valid JSON`, 2);
  }
  if (!Array.isArray(entries)) throw new CliError(`${file}: expected the JSON array of manage.py dumpdata`, 2);
  type Entry = { model?: string; pk?: unknown; fields?: Record<string, unknown> };
  const users = new Map<string, { username: string; isActive: unknown }>();
  for (const entry of entries as Entry[]) {
    if (entry?.model?.endsWith('.user') && typeof entry.fields?.username === 'string') {
      users.set(String(entry.pk), { username: entry.fields.username, isActive: entry.fields.is_active });
    }
  }
  const keys: Array<DjangoKey | RowFailure> = [];
  for (const entry of entries as Entry[]) {
    if (entry?.model !== 'django_hmac_authentication.apihmackey') continue;
    const fields = entry.fields ?? {};
    const user = users.get(String(fields.user ?? ''));
    keys.push(
      fromRaw({
        id: entry.pk ?? fields.id,
        user_id: fields.user,
        secret: fields.secret,
        salt: fields.salt,
        cipher_algorithm: fields.cipher_algorithm,
        revoked: fields.revoked,
        expires_at: fields.expires_at,
        username: user?.username,
        is_active: user ? (user.isActive ?? true) : undefined,
      }),
    );
  }
  return keys;
}

/** `--from`: a postgres:// URL, a `manage.py dumpdata` .json file, or else a SQLite database file. */
async function readSource(io: Io, from: string, users: UserTable): Promise<Array<DjangoKey | RowFailure>> {
  if (/^postgres(ql)?:\/\//.test(from)) return readPostgres(from, users);
  if (from.toLowerCase().endsWith('.json')) return readDumpdata(from, pathFrom(io, from));
  return readSqlite(from, pathFrom(io, from), users);
}

/** A row checked and decrypted, ready to be written. */
interface ReadyKey {
  keyId: string;
  userId: string;
  principal: string;
  principalDisabled: boolean;
  secret: Uint8Array;
  revoked: boolean;
  expiresAt: number | null;
}

function prepare(row: DjangoKey | RowFailure, password: string): ReadyKey | RowFailure {
  if ('reason' in row) {
    return { keyId: canonicalUuid(row.keyId) ?? JSON.stringify(row.keyId), reason: row.reason };
  }
  const keyId = canonicalUuid(row.rawId);
  if (!keyId) return { keyId: JSON.stringify(row.rawId), reason: 'id is not a UUID' };
  if (row.username === undefined) return { keyId, reason: `owner user_id ${row.userId} not found in the user table` };
  if (!CIPHERS[row.cipher]) return { keyId, reason: `unknown cipher_algorithm ${JSON.stringify(row.cipher)}` };
  try {
    const secret = decryptDjangoSecret(row, password);
    return {
      keyId,
      userId: row.userId,
      principal: principalName(row.username),
      principalDisabled: !row.userActive,
      secret,
      revoked: row.revoked,
      expiresAt: row.expiresAt,
    };
  } catch (error) {
    return { keyId, reason: (error as Error).message };
  }
}

/**
 * Distinct Django users must not merge into one principal because their usernames clean up to
 * the same name ("a b" and "a_b"): the later user's rows fail instead.
 */
function claimPrincipals(rows: Array<ReadyKey | RowFailure>): Array<ReadyKey | RowFailure> {
  const owners = new Map<string, string>();
  return rows.map((row) => {
    if ('reason' in row) return row;
    const owner = owners.get(row.principal);
    if (owner === undefined) owners.set(row.principal, row.userId);
    else if (owner !== row.userId) {
      return {
        keyId: row.keyId,
        reason: `username of user_id ${row.userId} maps to principal "${row.principal}", already taken by user_id ${owner}`,
      };
    }
    return row;
  });
}

interface ImportOptions {
  from?: string;
  userTable: string;
  usernameColumn: string;
  kdPasswordEnv: string;
  algorithm: string;
  scope: string[];
  dryRun?: boolean;
}

/**
 * `hmac-kit import django-hmac --from <sqlite file | postgres:// URL | dumpdata.json>`: moves
 * django_hmac_authentication keys in, ids and secrets unchanged.
 */
export function registerImportCommands(program: Command, io: Io): void {
  program
    .command('import')
    .description('import keys from another system')
    .command('django-hmac [source]')
    .description(
      'import django_hmac_authentication keys from its database (SQLite file or postgres:// URL) or a manage.py dumpdata .json; clients keep their api_key and api_secret',
    )
    .option(
      '--from <source>',
      'SQLite file, postgres://... URL (search_path via ?options=-c%20search_path%3D...), or dumpdata .json',
    )
    .option('--user-table <table>', 'table of the owners (a custom AUTH_USER_MODEL)', 'auth_user')
    .option('--username-column <column>', "column naming the owner (the user model's USERNAME_FIELD)", 'username')
    .option('--kd-password-env <var>', 'variable holding HMAC_KD_PASSWORD (or Django SECRET_KEY)', 'HMAC_KD_PASSWORD')
    .option(
      '--algorithm <algorithm>',
      'hash the imported keys sign with: any (default: the client chooses per request, as django does), sha256, sha384 or sha512',
      'any',
    )
    .option(
      '--scope <scope>',
      'scope given to every imported key (repeat)',
      (value: string, previous: string[] = []) => [...previous, value],
      [],
    )
    .option('--dry-run', 'read, decrypt and report; write nothing')
    .action(async (positional: string | undefined, options: ImportOptions) => {
      const from = options.from ?? positional;
      if (!from) throw new CliError('missing --from <sqlite file | postgres:// URL | dumpdata .json>', 2);
      if (options.from && positional && options.from !== positional) {
        throw new CliError('give the source once: --from or a positional argument, not both', 2);
      }
      if (!['any', 'sha256', 'sha384', 'sha512'].includes(options.algorithm)) {
        throw new CliError(
          `invalid algorithm ${JSON.stringify(options.algorithm)}: use any, sha256, sha384 or sha512`,
          2,
        );
      }
      const password = io.env[options.kdPasswordEnv];
      if (!password) {
        throw new CliError(
          `environment variable ${options.kdPasswordEnv} is not set (HMAC_KD_PASSWORD or Django's SECRET_KEY)`,
          2,
        );
      }
      for (const [flag, value] of [
        ['--user-table', options.userTable],
        ['--username-column', options.usernameColumn],
      ] as const) {
        if (!IDENTIFIER.test(value))
          throw new CliError(`invalid ${flag} ${JSON.stringify(value)}: a plain SQL name`, 2);
      }
      const json = program.opts<{ json?: boolean }>().json === true;
      const users = { table: options.userTable, usernameColumn: options.usernameColumn };
      const prepared = claimPrincipals((await readSource(io, from, users)).map((row) => prepare(row, password)));
      const failures = prepared.filter((row): row is RowFailure => 'reason' in row);
      const ready = prepared.filter((row): row is ReadyKey => !('reason' in row));
      // Every bad row gets its own line; none is dropped silently.
      for (const failure of failures) io.stderr(`hmac-kit: key ${failure.keyId}: ${failure.reason}\n`);
      if (failures.length > 0 && ready.length === 0 && failures.some((f) => f.reason.startsWith('cannot decrypt'))) {
        io.stderr(
          `hmac-kit: no key decrypts: check ${options.kdPasswordEnv} (HMAC_KD_PASSWORD or Django's SECRET_KEY)\n`,
        );
      }

      let imported = 0;
      let skipped = 0;
      const principals = new Map<string, PrincipalRow>();
      if (!options.dryRun && ready.length > 0) {
        const { encryptSecret } = await import('@hmac-kit/keys');
        const opened = await openStore(program, io, true);
        try {
          if (!opened.store.importRows) throw new CliError('this key store cannot import rows');
          const now = Date.now();
          const keys: KeyRow[] = [];
          for (const row of ready) {
            if (await opened.store.getKey(row.keyId)) {
              skipped++;
              continue;
            }
            if (!principals.has(row.principal)) {
              principals.set(row.principal, {
                name: row.principal,
                kind: 'user',
                disabled: row.principalDisabled,
                passwordHash: null,
                createdAt: now,
                disabledAt: row.principalDisabled ? now : null,
              });
            }
            const sealed = encryptSecret(opened.masterKeys, row.keyId, row.secret);
            keys.push({
              keyId: row.keyId,
              principal: row.principal,
              algorithm: options.algorithm as KeyAlgorithm,
              scopes: options.scope,
              label: 'imported from django-hmac',
              createdAt: now,
              expiresAt: row.expiresAt,
              lastUsedAt: null,
              revokedAt: row.revoked ? now : null,
              revokedReason: row.revoked ? 'revoked in django-hmac' : null,
              rateLimit: null,
              rotatedFrom: null,
              masterKeyId: sealed.masterKeyId,
              secretCiphertext: sealed.ciphertext,
            });
          }
          if (keys.length > 0) {
            await opened.store.importRows([...principals.values()], keys);
            // Instances that cached "unknown key" for these ids drop that at once.
            await opened.store.appendChange(
              keys.map((key) => key.keyId),
              now,
            );
          }
          imported = keys.length;
        } finally {
          await opened.close();
        }
      }
      const dryRun = options.dryRun === true;
      const principalCount = dryRun ? new Set(ready.map((row) => row.principal)).size : principals.size;
      print(
        io,
        json,
        {
          dryRun,
          ...(dryRun ? { wouldImport: ready.length } : { imported, skipped }),
          failed: failures.length,
          principals: principalCount,
          failures,
        },
        () =>
          dryRun
            ? `${ready.length} key(s) of ${principalCount} user(s) decrypt correctly; ${failures.length} failed; nothing written (--dry-run).\n`
            : `Imported ${imported} key(s) for ${principalCount} new principal(s); ${skipped} already present; ${failures.length} failed. Clients keep their api_key and api_secret.\n`,
      );
      if (failures.length > 0) throw new CliError(`${failures.length} row(s) not imported (listed above)`, 1);
    });
}
