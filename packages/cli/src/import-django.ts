import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { HashAlgorithm } from '@hmac-kit/core';
import type { KeyRow, PrincipalRow } from '@hmac-kit/keys';
import type { Command } from 'commander';
import { CliError, type Io, print } from './output.js';

/** One `django_hmac_authentication.apihmackey` row of a `manage.py dumpdata` export. */
interface DjangoKey {
  apiKey: string;
  user: string;
  secretCiphertext: string;
  salt: string;
  cipher: string;
  revoked: boolean;
  expiresAt: string | null;
}

const CIPHERS: Record<string, string> = { 'AES-256': 'aes-256-cbc', 'CAMELLIA-256': 'camellia-256-cbc' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Decrypts a django_hmac_authentication secret at rest (vevde_security_utils 2.x): key =
 * PBKDF2-HMAC-SHA256(HMAC_KD_PASSWORD or SECRET_KEY, salt, 1000), iv = last 16 salt bytes,
 * AES-256-CBC or CAMELLIA-256-CBC with PKCS#7. Returns the raw secret bytes.
 */
export function decryptDjangoSecret(
  row: Pick<DjangoKey, 'secretCiphertext' | 'salt' | 'cipher'>,
  password: string,
): Uint8Array {
  const algorithm = CIPHERS[row.cipher];
  if (!algorithm) throw new Error(`unsupported cipher_algorithm ${JSON.stringify(row.cipher)}`);
  const salt = Buffer.from(row.salt, 'base64');
  if (salt.length < 16) throw new Error('salt too short');
  const key = pbkdf2Sync(password, salt, 1000, 32, 'sha256');
  const decipher = createDecipheriv(algorithm, key, salt.subarray(salt.length - 16));
  const plain = Buffer.concat([decipher.update(Buffer.from(row.secretCiphertext, 'base64')), decipher.final()]);
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

function principalName(username: string): string {
  const cleaned = username.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 128);
  return cleaned || 'django-user';
}

function readExport(file: string): DjangoKey[] {
  let entries: unknown;
  try {
    entries = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code ? `cannot read ${file}: ${code}` : `${file} is not valid JSON`, 2);
  }
  if (!Array.isArray(entries)) throw new CliError(`${file}: expected the JSON array of manage.py dumpdata`, 2);
  const users = new Map<string, string>();
  for (const entry of entries as Array<{ model?: string; pk?: unknown; fields?: Record<string, unknown> }>) {
    if (entry?.model?.endsWith('.user') && typeof entry.fields?.username === 'string') {
      users.set(String(entry.pk), entry.fields.username);
    }
  }
  const keys: DjangoKey[] = [];
  for (const entry of entries as Array<{ model?: string; pk?: unknown; fields?: Record<string, unknown> }>) {
    if (entry?.model !== 'django_hmac_authentication.apihmackey') continue;
    const fields = entry.fields ?? {};
    const apiKey = String(entry.pk ?? fields.id ?? '');
    if (!UUID.test(apiKey)) throw new CliError(`${file}: key ${JSON.stringify(apiKey)} is not a UUID`, 2);
    const userId = String(fields.user ?? '');
    keys.push({
      apiKey: apiKey.toLowerCase(),
      user: users.get(userId) ?? `django-user-${userId}`,
      secretCiphertext: String(fields.secret ?? ''),
      salt: String(fields.salt ?? ''),
      cipher: String(fields.cipher_algorithm ?? 'AES-256'),
      revoked: fields.revoked === true,
      expiresAt: typeof fields.expires_at === 'string' ? fields.expires_at : null,
    });
  }
  return keys;
}

/** `hmac-kit import django-hmac <dumpdata.json>`: moves django_hmac_authentication keys in, ids and secrets unchanged. */
export function registerImportCommands(program: Command, io: Io): void {
  program
    .command('import')
    .description('import keys from another system')
    .command('django-hmac <dumpdata.json>')
    .description(
      'import django_hmac_authentication keys (manage.py dumpdata auth.user django_hmac_authentication); clients keep their api_key and api_secret',
    )
    .option('--kd-password-env <var>', 'variable holding HMAC_KD_PASSWORD (or Django SECRET_KEY)', 'HMAC_KD_PASSWORD')
    .option('--algorithm <algorithm>', 'hash the imported keys sign with: sha256, sha384 or sha512', 'sha256')
    .option(
      '--scope <scope>',
      'scope given to every imported key (repeat)',
      (value: string, previous: string[] = []) => [...previous, value],
      [],
    )
    .option('--dry-run', 'decrypt and report, write nothing')
    .action(
      async (
        file: string,
        options: { kdPasswordEnv: string; algorithm: string; scope: string[]; dryRun?: boolean },
      ) => {
        if (!['sha256', 'sha384', 'sha512'].includes(options.algorithm)) {
          throw new CliError(`invalid algorithm ${JSON.stringify(options.algorithm)}: use sha256, sha384 or sha512`, 2);
        }
        const password = io.env[options.kdPasswordEnv];
        if (!password)
          throw new CliError(
            `environment variable ${options.kdPasswordEnv} is not set (HMAC_KD_PASSWORD or Django's SECRET_KEY)`,
            2,
          );
        const rows = readExport(file);
        const secrets = rows.map((row) => {
          try {
            return decryptDjangoSecret(row, password);
          } catch {
            throw new CliError(
              `cannot decrypt key ${row.apiKey}: wrong HMAC_KD_PASSWORD/SECRET_KEY, or not a django_hmac_authentication 5.x export`,
            );
          }
        });
        const json = program.opts<{ json?: boolean }>().json === true;
        if (options.dryRun) {
          print(
            io,
            json,
            { keys: rows.length, principals: new Set(rows.map((row) => row.user)).size, written: 0 },
            () =>
              `${rows.length} key(s) of ${new Set(rows.map((row) => row.user)).size} user(s) decrypt correctly; nothing written (--dry-run).\n`,
          );
          return;
        }
        const globals = program.opts<{ db?: string; masterKeyFile?: string }>();
        const { openKeys } = await import('@hmac-kit/server/store');
        const { encryptSecret } = await import('@hmac-kit/keys');
        const opened = await openKeys({
          database: globals.db ?? io.env.HMAC_KIT_DATABASE_URL ?? './.hmac-kit/hmac-kit.db',
          masterKeys: io.env.HMAC_KIT_MASTER_KEYS || undefined,
          masterKeyFile: globals.masterKeyFile ?? (io.env.HMAC_KIT_MASTER_KEY_FILE || undefined),
        });
        try {
          const now = Date.now();
          const principals = new Map<string, PrincipalRow>();
          const keys: KeyRow[] = [];
          let skipped = 0;
          for (const [index, row] of rows.entries()) {
            if (await opened.store.getKey(row.apiKey)) {
              skipped++;
              continue;
            }
            const principal = principalName(row.user);
            principals.set(principal, {
              name: principal,
              kind: 'user',
              disabled: false,
              passwordHash: null,
              createdAt: now,
              disabledAt: null,
            });
            const sealed = encryptSecret(opened.masterKeys, row.apiKey, secrets[index] as Uint8Array);
            const expiresAt = row.expiresAt ? Date.parse(row.expiresAt) : Number.NaN;
            keys.push({
              keyId: row.apiKey,
              principal,
              algorithm: options.algorithm as HashAlgorithm,
              scopes: options.scope,
              label: 'imported from django-hmac',
              createdAt: now,
              expiresAt: Number.isFinite(expiresAt) ? expiresAt : null,
              lastUsedAt: null,
              revokedAt: row.revoked ? now : null,
              revokedReason: row.revoked ? 'revoked in django-hmac' : null,
              rateLimit: null,
              rotatedFrom: null,
              masterKeyId: sealed.masterKeyId,
              secretCiphertext: sealed.ciphertext,
            });
          }
          if (!opened.store.importRows) throw new CliError('this key store cannot import rows');
          if (keys.length > 0) {
            await opened.store.importRows([...principals.values()], keys);
            // Instances that cached "unknown key" for these ids drop that at once.
            await opened.store.appendChange(
              keys.map((key) => key.keyId),
              now,
            );
          }
          print(
            io,
            json,
            { imported: keys.length, skipped, principals: principals.size },
            () =>
              `Imported ${keys.length} key(s) for ${principals.size} principal(s); ${skipped} already present. Clients keep their api_key and api_secret.\n`,
          );
        } finally {
          await opened.close();
        }
      },
    );
}
