import { readFileSync } from 'node:fs';
import { type DeclarativeSchemeDefinition, type HashAlgorithm, parseSecret } from '@hmac-kit/core';
import type {
  ApiKey,
  AuditEntry,
  IssuedKey,
  KeyAlgorithm,
  KeyRateLimit,
  KeyService,
  MasterKeyRing,
  Page,
} from '@hmac-kit/keys';
import { isPlausibleKeyId } from '@hmac-kit/keys/ids';
import type { OpenedKeys } from '@hmac-kit/server/store';
import { parseDuration, parseRateLimit } from '@hmac-kit/server/units';
import { issuedKeyView, keyUsageView, keyView, principalView } from '@hmac-kit/server/views';
import type { Command } from 'commander';
import { CliError, checkKeyIdOption, formatTable, type Io, print } from './output.js';

/** Global options every store command reads. */
interface Globals {
  db?: string;
  json?: boolean;
  masterKeyFile?: string;
}

/**
 * Opens the key service named by `--db` / `HMAC_KIT_DATABASE_URL` (default: the project's
 * `.hmac-kit/hmac-kit.db`, found from any of its folders), runs `work`, closes it. Only commands
 * that add to the store (`create`) may create a database or a master key file, and they say so.
 */
async function withKeys<T>(
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
  let opened: OpenedKeys;
  try {
    opened = await openKeys({
      database,
      masterKeys: io.env.HMAC_KIT_MASTER_KEYS || undefined,
      masterKeyFile: globals.masterKeyFile ?? (io.env.HMAC_KIT_MASTER_KEY_FILE || undefined),
      maxKeysPerPrincipal: io.env.HMAC_KIT_MAX_KEYS ? Number(io.env.HMAC_KIT_MAX_KEYS) : undefined,
      createDatabase: create,
      createMasterKey: create,
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

/**
 * The same secret as Standard Webhooks senders expect it: `whsec_` + standard base64 of the
 * raw bytes (docs/protocol.md 2.3), so the sender and hmac-kit compute the same HMAC key.
 */
function webhookSecretOf(secret: string): string {
  return `whsec_${Buffer.from(parseSecret(secret)).toString('base64')}`;
}

function issuedBlock(title: string, issued: IssuedKey, webhook: boolean): string {
  const key = issued.key;
  return [
    title,
    `  key id:     ${key.keyId}`,
    `  secret:     ${issued.secret}`,
    ...(webhook
      ? [`  webhook:    ${webhookSecretOf(issued.secret)}  (the same secret for Standard Webhooks senders)`]
      : []),
    `  principal:  ${key.principal}`,
    `  algorithm:  ${key.algorithm}`,
    `  scopes:     ${key.scopes.join(' ') || '-'}`,
    `  expires:    ${key.expiresAt?.toISOString() ?? 'never'}`,
    '',
    'Store the secret now: it will not be shown again.',
    '',
  ].join('\n');
}

/** `webhookSecret` in --json output, present only with --webhook. */
function webhookField(issued: IssuedKey, webhook: boolean): { webhookSecret?: string } {
  return webhook ? { webhookSecret: webhookSecretOf(issued.secret) } : {};
}

/**
 * A repeatable, comma-separated option. A value with a space inside is refused rather than split:
 * `--scope 'orders:read orders:write'` is more likely a quoting slip than two scopes.
 */
function collectList(what: string): (value: string, previous?: string[]) => string[] {
  return (value, previous = []) => {
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    const spaced = items.find((item) => /\s/.test(item));
    if (spaced !== undefined) {
      throw new CliError(
        `invalid ${what} ${JSON.stringify(spaced)}: a ${what} has no spaces; repeat --${what} or separate with commas`,
        2,
      );
    }
    return [...previous, ...items];
  };
}

function durationOption(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value, what);
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
}

function rateLimitOption(value: string | undefined): KeyRateLimit | undefined {
  if (value === undefined) return undefined;
  try {
    return parseRateLimit(value, '100/1m');
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
}

/**
 * The bytes of a secret given on stdin for `keys import`: `text` is its UTF-8 bytes (one trailing
 * newline, as `echo` adds, is dropped), `base64` standard or URL-safe, `hex` an even count of hex
 * digits. The message never quotes the input.
 *
 * @example
 * ```ts
 * decodeImportedSecret(new TextEncoder().encode('secret-key\n'), 'text'); // the 10 bytes of secret-key
 * ```
 */
export function decodeImportedSecret(input: Uint8Array, encoding: 'text' | 'base64' | 'hex'): Uint8Array {
  let text = Buffer.from(input).toString(encoding === 'text' ? 'latin1' : 'utf8');
  text = text.replace(/\r?\n$/, '');
  let bytes: Buffer;
  if (encoding === 'text') {
    bytes = Buffer.from(text, 'latin1');
  } else if (encoding === 'hex') {
    const hex = text.trim();
    if (!/^(?:[0-9A-Fa-f]{2})+$/.test(hex))
      throw new CliError('the secret on stdin is not hex (an even number of hex digits)', 2);
    bytes = Buffer.from(hex, 'hex');
  } else {
    const b64 = text.trim();
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64) || b64.replace(/=+$/, '').length % 4 === 1)
      throw new CliError('the secret on stdin is not base64', 2);
    bytes = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (bytes.length === 0) throw new CliError('no secret on stdin', 2);
  if (bytes.length > 1024) throw new CliError('the secret on stdin is longer than 1024 bytes', 2);
  const out = new Uint8Array(bytes);
  bytes.fill(0);
  return out;
}

/** Reads a password from `--password-env VAR`, `--password-file F` or `--password-stdin`; never from argv. */
async function readPassword(
  io: Io,
  options: { passwordEnv?: string; passwordFile?: string; passwordStdin?: boolean },
): Promise<string | undefined> {
  if (options.passwordEnv) {
    const value = io.env[options.passwordEnv];
    if (!value) throw new CliError(`environment variable ${options.passwordEnv} is not set`, 2);
    return value;
  }
  if (options.passwordFile) {
    try {
      return readFileSync(options.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new CliError(`cannot read ${options.passwordFile}: ${(error as NodeJS.ErrnoException).code}`, 2);
    }
  }
  if (options.passwordStdin) {
    const text = Buffer.from(await io.readStdin())
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (!text) throw new CliError('no password on stdin', 2);
    return text;
  }
  return undefined;
}

function withPasswordOptions(command: Command): Command {
  return command
    .option('--password-env <var>', 'read the password from this environment variable')
    .option('--password-file <file>', 'read the password from this file')
    .option('--password-stdin', 'read the password from stdin');
}

/** `--limit N`: a positive integer. */
function limitOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new CliError(`invalid limit ${JSON.stringify(value)}: use a positive integer`, 2);
  }
  return Number(value);
}

/**
 * Everything a listing has (pages of 1,000 read one after the other, each an index seek), or the
 * first `limit` rows from `after` on. Says on stderr how to continue when it stopped early.
 */
async function readPages<T>(
  io: Io,
  what: string,
  readPage: (after: string | undefined, limit: number) => Promise<Page<T>>,
  options: { limit?: string; after?: string },
): Promise<T[]> {
  const limit = limitOption(options.limit);
  const items: T[] = [];
  let after = options.after;
  for (;;) {
    let page: Page<T>;
    try {
      page = await readPage(after, Math.min(1000, limit === undefined ? 1000 : limit - items.length));
    } catch (error) {
      // A malformed --after is the user's to fix, not a crash.
      if (error instanceof TypeError) throw new CliError(error.message, 2);
      throw error;
    }
    items.push(...page.items);
    if (page.next === null) return items;
    if (limit !== undefined && items.length >= limit) {
      io.stderr(`hmac-kit: more ${what}: continue with --after ${page.next}\n`);
      return items;
    }
    after = page.next;
  }
}

function auditRows(entries: AuditEntry[]) {
  return entries.map((entry) => ({
    id: entry.id,
    at: entry.at.toISOString(),
    type: entry.type,
    principal: entry.principal,
    keyId: entry.keyId,
    actor: entry.actor,
    source: entry.source,
    code: entry.code,
  }));
}

/** `principals`, `keys`, `master-key`, `db` and `audit`. */
export function registerStoreCommands(program: Command, io: Io): void {
  const json = () => program.opts<Globals>().json === true;
  const actor = 'cli';

  const principals = program.command('principals').description('users and services that own keys');
  withPasswordOptions(
    principals
      .command('add <name>')
      .description('add a principal')
      .option('--kind <kind>', 'user or service', 'service'),
  ).action(
    async (
      name: string,
      options: { kind: string; passwordEnv?: string; passwordFile?: string; passwordStdin?: boolean },
    ) => {
      if (options.kind !== 'user' && options.kind !== 'service') {
        throw new CliError(`invalid kind ${JSON.stringify(options.kind)}: use user or service`, 2);
      }
      const password = await readPassword(io, options);
      const principal = await withKeys(
        program,
        io,
        (keys) => keys.createPrincipal({ name, kind: options.kind as 'user' | 'service', password, actor }),
        { create: true },
      );
      print(io, json(), principalView(principal), () => `Principal ${principal.name} (${principal.kind}) added.\n`);
    },
  );
  principals
    .command('list')
    .description('list principals by name')
    .option('--search <text>', 'only names containing this text (any case)')
    .option('--limit <n>', 'at most this many (then prints how to continue)')
    .option('--after <cursor>', 'continue a listing stopped by --limit')
    .action(async (options: { search?: string; limit?: string; after?: string }) => {
      const list = await withKeys(program, io, (keys) =>
        readPages(
          io,
          'principals',
          (after, limit) =>
            keys.listPrincipals({
              limit,
              ...(after !== undefined ? { after } : {}),
              ...(options.search ? { nameContains: options.search } : {}),
            }),
          options,
        ),
      );
      const rows = list.map(principalView);
      print(io, json(), rows, () =>
        formatTable(
          rows.map((row) => ({
            ...row,
            disabled: row.disabled ? 'yes' : 'no',
            hasPassword: row.hasPassword ? 'yes' : 'no',
          })),
          ['name', 'kind', 'disabled', 'hasPassword', 'createdAt'],
        ),
      );
    });
  principals
    .command('disable <name>')
    .description('disable a principal: its keys stop working at once')
    .action(async (name: string) => {
      const principal = await withKeys(program, io, (keys) => keys.disablePrincipal(name, { actor }));
      print(io, json(), principalView(principal), () => `Principal ${name} disabled; its keys no longer verify.\n`);
    });
  principals
    .command('enable <name>')
    .description('enable a disabled principal')
    .action(async (name: string) => {
      const principal = await withKeys(program, io, (keys) => keys.enablePrincipal(name, { actor }));
      print(io, json(), principalView(principal), () => `Principal ${name} enabled.\n`);
    });
  withPasswordOptions(
    principals
      .command('set-password <name>')
      .description('set the password used by POST /v1/keys')
      .option('--clear', 'remove the password'),
  ).action(
    async (
      name: string,
      options: { clear?: boolean; passwordEnv?: string; passwordFile?: string; passwordStdin?: boolean },
    ) => {
      const password = options.clear ? null : await readPassword(io, options);
      if (password === undefined) {
        throw new CliError('give the password with --password-env VAR, --password-file FILE or --password-stdin', 2);
      }
      await withKeys(program, io, (keys) => keys.setPassword(name, password, { actor }));
      print(io, json(), { name, hasPassword: password !== null }, () =>
        password === null ? `Password of ${name} removed.\n` : `Password of ${name} set.\n`,
      );
    },
  );

  const keysCommand = program.command('keys').description('API keys');
  keysCommand
    .command('create')
    .description('create a key (the secret is shown once)')
    .requiredOption('--principal <name>', 'owner of the key')
    .option('--scope <scope>', 'scope (repeat, or comma-separated)', collectList('scope'), [])
    .option('--expires <duration>', 'lifetime, e.g. 90d, 12h')
    .option('--algorithm <algorithm>', 'sha256, sha384 or sha512', 'sha256')
    .option('--label <label>', 'free text label')
    .option('--rate-limit <n/window>', 'per-key rate limit, e.g. 100/1m')
    .option('--webhook', 'also show the secret as whsec_... for Standard Webhooks senders (sha256 keys)')
    .action(
      async (options: {
        principal: string;
        scope: string[];
        expires?: string;
        algorithm: string;
        label?: string;
        rateLimit?: string;
        webhook?: boolean;
      }) => {
        if (!['sha256', 'sha384', 'sha512'].includes(options.algorithm)) {
          throw new CliError(`invalid algorithm ${JSON.stringify(options.algorithm)}: use sha256, sha384 or sha512`, 2);
        }
        if (options.webhook && options.algorithm !== 'sha256') {
          throw new CliError('--webhook needs a sha256 key: Standard Webhooks signs with HMAC-SHA256', 2);
        }
        const expiresInSeconds = durationOption(options.expires, 'duration');
        if (expiresInSeconds === 0) throw new CliError('invalid duration: --expires must be longer than 0s', 2);
        const rateLimit = rateLimitOption(options.rateLimit);
        const issued = await withKeys(program, io, (keys) =>
          keys.createKey({
            principal: options.principal,
            scopes: options.scope,
            algorithm: options.algorithm as HashAlgorithm,
            label: options.label,
            expiresInSeconds,
            rateLimit,
            actor,
          }),
        );
        const webhook = options.webhook === true;
        print(io, json(), { ...issuedKeyView(issued), ...webhookField(issued, webhook) }, () =>
          issuedBlock(`Key created for ${issued.key.principal}`, issued, webhook),
        );
      },
    );
  keysCommand
    .command('import')
    .description('store a secret your clients already hold, under the id they already send (never echoed)')
    .requiredOption('--principal <name>', 'owner of the key')
    .requiredOption(
      '--key-id <id>',
      'the id clients send (X-API-Key value, django key id) or the fixed id a scheme names (legacy)',
    )
    .option('--secret-stdin', 'read the secret from stdin (the only way: never from the command line)')
    .option(
      '--encoding <encoding>',
      'how the secret on stdin is written: text (its UTF-8 bytes), base64 or hex',
      'text',
    )
    .option(
      '--algorithm <algorithm>',
      'sha256, sha384, sha512, or any (the client chooses, where its requests name one)',
      'sha256',
    )
    .option('--scope <scope>', 'scope (repeat, or comma-separated)', collectList('scope'), [])
    .option('--label <label>', 'free text label')
    .option('--rate-limit <n/window>', 'per-key rate limit, e.g. 100/1m')
    .action(
      async (options: {
        principal: string;
        keyId: string;
        secretStdin?: boolean;
        encoding: string;
        algorithm: string;
        scope: string[];
        label?: string;
        rateLimit?: string;
      }) => {
        if (!options.secretStdin) {
          throw new CliError(
            'give the secret on stdin with --secret-stdin, e.g. printf %s "$SECRET" | hmac-kit keys import ...',
            2,
          );
        }
        if (!['sha256', 'sha384', 'sha512', 'any'].includes(options.algorithm)) {
          throw new CliError(
            `invalid algorithm ${JSON.stringify(options.algorithm)}: use sha256, sha384, sha512 or any`,
            2,
          );
        }
        if (!['text', 'base64', 'hex'].includes(options.encoding)) {
          throw new CliError(`invalid encoding ${JSON.stringify(options.encoding)}: use text, base64 or hex`, 2);
        }
        // The id is not echoed in any message: a secret pasted into --key-id must not reach the terminal.
        if (!isPlausibleKeyId(options.keyId)) {
          throw new CliError(
            '--key-id must be 1-128 characters of A-Z a-z 0-9 . _ : @ + = / - and not a secret (hks_..., whsec_...)',
            2,
          );
        }
        const rateLimit = rateLimitOption(options.rateLimit);
        const secret = decodeImportedSecret(await io.readStdin(), options.encoding as 'text' | 'base64' | 'hex');
        let key: ApiKey;
        try {
          key = await withKeys(program, io, (keys) =>
            keys.importKey({
              principal: options.principal,
              keyId: options.keyId,
              secret,
              algorithm: options.algorithm as KeyAlgorithm,
              scopes: options.scope,
              label: options.label,
              rateLimit,
              actor,
            }),
          );
        } catch (error) {
          if (error instanceof TypeError) throw new CliError(error.message, 2);
          throw error;
        } finally {
          secret.fill(0);
        }
        if (secret.length < 16) {
          io.stderr(
            `hmac-kit: warning: the imported secret is ${secret.length === 1 ? '1 byte' : `only ${secret.length} bytes`}; move its clients to an issued key (docs/migration.md)\n`,
          );
        }
        print(io, json(), keyView(key), () =>
          [
            `Secret imported for ${key.principal}`,
            `  key id:     ${key.keyId}`,
            `  principal:  ${key.principal}`,
            `  algorithm:  ${key.algorithm}`,
            `  scopes:     ${key.scopes.join(' ') || '-'}`,
            '',
          ].join('\n'),
        );
      },
    );
  keysCommand
    .command('list')
    .description('list keys, oldest first')
    .option('--principal <name>', 'only this principal')
    .option('--all', 'include revoked keys')
    .option('--newest-first', 'newest first')
    .option('--limit <n>', 'at most this many (then prints how to continue)')
    .option('--after <cursor>', 'continue a listing stopped by --limit (same filters and order)')
    .action(
      async (options: { principal?: string; all?: boolean; newestFirst?: boolean; limit?: string; after?: string }) => {
        const list = await withKeys(program, io, (keys) =>
          readPages(
            io,
            'keys',
            (after, limit) =>
              keys.listKeys({
                principal: options.principal,
                includeRevoked: options.all === true,
                order: options.newestFirst ? 'newest' : 'oldest',
                limit,
                ...(after !== undefined ? { after } : {}),
              }),
            options,
          ),
        );
        const rows = list.map(keyView);
        print(io, json(), rows, () =>
          formatTable(rows, ['keyId', 'principal', 'status', 'algorithm', 'scopes', 'label', 'createdAt', 'expiresAt']),
        );
      },
    );
  keysCommand
    .command('usage')
    .description('which schemes each key was used with, how often and when last (weak ones marked)')
    .option('--principal <name>', 'only this principal')
    .option('--key-id <keyId>', 'only this key')
    .option(
      '--scheme <scheme>',
      'only this scheme (rfc9421, sigv4, x-api, django-hmac, standard-webhooks, a declared name)',
    )
    .option('--config <file>', "the server's config file: grades its declared legacy schemes from their definitions")
    .option('--limit <n>', 'at most this many rows (then prints how to continue)')
    .option('--after <cursor>', 'continue a listing stopped by --limit (same filters)')
    .addHelpText(
      'after',
      [
        '',
        'Counts only requests that were fully proven (never failures or replays), written by every',
        'server process to the database: a pair within a few seconds, counts at most once a minute',
        'and at shutdown. WEAK marks schemes that protect less than the RFC 9421 profile',
        '(docs/protocol-legacy.md); without --config every declared legacy scheme is marked.',
        '',
        'Examples:',
        '  hmac-kit keys usage',
        '  hmac-kit keys usage --scheme x-api --json',
        '  hmac-kit keys usage --principal billing --config hmac-kit.json',
        '',
      ].join('\n'),
    )
    .action(
      async (options: {
        principal?: string;
        keyId?: string;
        scheme?: string;
        config?: string;
        limit?: string;
        after?: string;
      }) => {
        checkKeyIdOption(options.keyId);
        if (options.scheme !== undefined && !/^[\x21-\x7e]{1,64}$/.test(options.scheme)) {
          throw new CliError(`invalid scheme ${JSON.stringify(options.scheme)}: use a scheme name such as rfc9421`, 2);
        }
        let declared: readonly DeclarativeSchemeDefinition[] = [];
        if (options.config !== undefined) {
          const { ConfigError, loadConfig } = await import('@hmac-kit/server');
          try {
            declared = loadConfig({ configFile: options.config }).legacySchemes ?? [];
          } catch (error) {
            if (error instanceof ConfigError) throw new CliError(`config: ${error.message.split('\n')[0]}`, 2);
            throw error;
          }
        }
        const uses = await withKeys(program, io, async (keys) => {
          // A typo must not read as "no client uses this any more": unknown names are errors.
          if (options.keyId !== undefined && !(await keys.getKey(options.keyId))) {
            throw new CliError(unknownKey(options.keyId), 1, 'ERR_KEY_NOT_FOUND');
          }
          if (options.principal !== undefined && !(await keys.getPrincipal(options.principal))) {
            throw new CliError(`principal "${options.principal}" does not exist`, 1, 'ERR_PRINCIPAL_NOT_FOUND');
          }
          return readPages(
            io,
            'usage rows',
            (after, limit) =>
              keys.listKeyUsage({
                principal: options.principal,
                keyId: options.keyId,
                scheme: options.scheme,
                limit,
                ...(after !== undefined ? { after } : {}),
              }),
            options,
          );
        });
        const rows = uses.map((use) => keyUsageView(use, declared));
        print(io, json(), rows, () => {
          if (rows.length === 0) return 'No recorded use (only fully proven requests are counted).\n';
          const table = formatTable(
            rows.map((row) => ({ ...row, weak: row.weak ? 'WEAK' : '' })),
            ['keyId', 'principal', 'scheme', 'count', 'lastUsedAt', 'weak'],
          );
          const weak = [...new Set(rows.filter((row) => row.weak).map((row) => row.scheme))];
          return weak.length === 0
            ? table
            : `${table}\nWEAK: ${weak.join(', ')} protect(s) less than the RFC 9421 profile (docs/protocol-legacy.md); move these clients (docs/migration.md).\n`;
        });
      },
    );
  keysCommand
    .command('show <keyId>')
    .description('show one key (never its secret)')
    .action(async (keyId: string) => {
      const key = await withKeys(program, io, (keys) => keys.getKey(keyId));
      if (!key) throw new CliError(unknownKey(keyId), 1, 'ERR_KEY_NOT_FOUND');
      const view = keyView(key);
      print(io, json(), view, () =>
        Object.entries(view)
          .map(
            ([name, value]) =>
              `${`${name}:`.padEnd(13)}${Array.isArray(value) ? value.join(' ') || '-' : (value ?? '-')}`,
          )
          .map((line) => (typeof line === 'string' ? line : JSON.stringify(line)))
          .join('\n')
          .concat('\n'),
      );
    });
  keysCommand
    .command('revoke <keyId>')
    .description('revoke a key at once')
    .option('--reason <text>', 'recorded in the audit trail')
    .action(async (keyId: string, options: { reason?: string }) => {
      const { key, already } = await withKeys(program, io, async (keys) => {
        const before = await keys.getKey(keyId);
        if (!before) throw new CliError(unknownKey(keyId), 1, 'ERR_KEY_NOT_FOUND');
        // Revoking is idempotent in the store; the user still learns that nothing changed.
        if (before.status === 'revoked') return { key: before, already: true };
        return { key: await keys.revokeKey(keyId, { reason: options.reason, actor }), already: false };
      });
      print(io, json(), { ...keyView(key), alreadyRevoked: already }, () =>
        already
          ? `Key ${keyId} was already revoked (at ${key.revokedAt?.toISOString() ?? 'an earlier time'}); nothing changed.\n`
          : `Key ${keyId} revoked.\n`,
      );
    });
  keysCommand
    .command('rotate <keyId>')
    .description('issue a replacement key; the old one keeps working for the overlap')
    .option('--overlap <duration>', 'how long the old key stays valid', '24h')
    .option('--label <label>', 'label of the new key')
    .option('--webhook', 'also show the new secret as whsec_... for Standard Webhooks senders (sha256 keys)')
    .action(async (keyId: string, options: { overlap: string; label?: string; webhook?: boolean }) => {
      const overlapSeconds = durationOption(options.overlap, 'duration');
      const webhook = options.webhook === true;
      const rotated = await withKeys(program, io, async (keys) => {
        // Checked before rotating: a refused --webhook must not leave a rotated key behind.
        const current = webhook ? await keys.getKey(keyId) : undefined;
        if (current && current.algorithm !== 'sha256') {
          throw new CliError('--webhook needs a sha256 key: Standard Webhooks signs with HMAC-SHA256', 2);
        }
        return keys.rotateKey(keyId, { overlapSeconds, label: options.label, actor });
      });
      print(
        io,
        json(),
        {
          ...issuedKeyView(rotated),
          ...webhookField(rotated, webhook),
          previous: keyView(rotated.previous),
        },
        () =>
          issuedBlock(
            `Key ${keyId} rotated; it stops working at ${rotated.previous.expiresAt?.toISOString() ?? 'once'}.\nNew key:`,
            rotated,
            webhook,
          ),
      );
    });

  program
    .command('audit')
    .description('show the audit trail (newest first)')
    .option('--principal <name>', 'only this principal')
    .option('--key-id <keyId>', 'only this key')
    .option('--type <type>', 'only this event type (repeat, or comma-separated)', collectList('type'), [])
    .option('--since <duration>', 'only the last ... (e.g. 24h)')
    .option('--limit <n>', 'at most n entries (default 100, max 1000)', '100')
    .action(async (options: { principal?: string; keyId?: string; type: string[]; since?: string; limit: string }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new CliError(`invalid limit ${JSON.stringify(options.limit)}: expected 1..1000`, 2);
      }
      const since = durationOption(options.since, 'duration');
      checkKeyIdOption(options.keyId);
      const entries = await withKeys(program, io, (keys) =>
        keys.queryAudit({
          principal: options.principal,
          keyId: options.keyId,
          types: options.type.length ? (options.type as never[]) : undefined,
          since: since === undefined ? undefined : new Date(Date.now() - since * 1000),
          limit,
        }),
      );
      const rows = auditRows(entries);
      print(io, json(), rows, () =>
        formatTable(rows, ['id', 'at', 'type', 'principal', 'keyId', 'actor', 'source', 'code']),
      );
    });

  program
    .command('master-key')
    .description('master keys that encrypt secrets at rest')
    .command('rotate')
    .description('add a new master key (key file) and re-encrypt every secret under the newest key; resumable')
    .option('--resume', 'do not add a key: finish re-encrypting under the newest configured key')
    .option('--batch-size <n>', 'rows per batch', '500')
    .action(async (options: { resume?: boolean; batchSize: string }) => {
      const batchSize = Number(options.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new CliError(`invalid batch size ${JSON.stringify(options.batchSize)}`, 2);
      }
      const { addMasterKeyToFile, parseMasterKeys, readMasterKeyFile, rotateMasterKey } = await import(
        '@hmac-kit/keys'
      );
      const result = await withKeys(program, io, async (_keys, opened) => {
        let ring: MasterKeyRing | undefined = io.env.HMAC_KIT_MASTER_KEYS
          ? parseMasterKeys(io.env.HMAC_KIT_MASTER_KEYS)
          : undefined;
        let added: string | undefined;
        if (!ring) {
          const file = opened.info.masterKeyFile;
          if (!file) throw new CliError('no master key file configured');
          if (options.resume) {
            ring = await readMasterKeyFile(file);
          } else {
            const next = await addMasterKeyToFile(file);
            ring = next.ring;
            added = next.id;
            io.stderr(`hmac-kit: added master key ${next.id} to ${file}\n`);
          }
        } else if (!options.resume) {
          io.stderr('hmac-kit: HMAC_KIT_MASTER_KEYS is set: re-encrypting under its last (newest) key\n');
        }
        const progress = await rotateMasterKey(opened.store, ring, {
          batchSize,
          actor: 'cli',
          onProgress: (step) => {
            if (!json()) io.stderr(`re-encrypted ${step.reencrypted}/${step.total} (skipped ${step.skipped})\n`);
          },
        });
        return { ...progress, addedMasterKeyId: added ?? null };
      });
      print(
        io,
        json(),
        result,
        () =>
          `All secrets are encrypted under master key ${result.targetMasterKeyId} (${result.reencrypted} re-encrypted). Older master keys can be removed once every instance runs with the new ring.\n`,
      );
    });

  program
    .command('db')
    .description('database maintenance')
    .command('migrate')
    .description('apply pending schema migrations')
    .action(async () => {
      const summary = await withKeys(program, io, async (_keys, opened) => opened.migrations, { create: true });
      print(io, json(), summary, () =>
        summary.applied.length
          ? `Applied ${summary.applied.length} migration(s): ${summary.applied.join(', ')}\n`
          : 'Database schema is up to date.\n',
      );
    });
}
