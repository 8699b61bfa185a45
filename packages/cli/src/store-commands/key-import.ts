/** `keys import`: store a secret the clients already hold (read from stdin, never echoed). */
import type { ApiKey, KeyAlgorithm } from '@hmac-kit/keys';
import { decodeSecretText } from '@hmac-kit/server/units';
import type { Command } from 'commander';
import { CliError, print } from '../output.js';
import { type StoreCommandContext, withKeys } from './context.js';
import { checkUsage, collectList, rateLimitOption } from './options.js';

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
  } else {
    const decoded = decodeSecretText(text.trim(), encoding);
    if (decoded === undefined) {
      throw new CliError(
        encoding === 'hex'
          ? 'the secret on stdin is not hex (an even number of hex digits)'
          : 'the secret on stdin is not base64',
        2,
      );
    }
    bytes = decoded;
  }
  if (bytes.length === 0) throw new CliError('no secret on stdin', 2);
  if (bytes.length > 1024) throw new CliError('the secret on stdin is longer than 1024 bytes', 2);
  const out = new Uint8Array(bytes);
  bytes.fill(0);
  return out;
}

/** Registers `keys import` on `keysCommand`. */
export function registerKeyImport(keysCommand: Command, context: StoreCommandContext): void {
  const { program, io, json, actor } = context;
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
        // Loaded when the command runs (the module re-exports the core's secret format), not for --help.
        const { isPlausibleKeyId } = await import('@hmac-kit/keys/ids');
        // The id is not echoed in any message: a secret pasted into --key-id must not reach the terminal.
        if (!isPlausibleKeyId(options.keyId)) {
          throw new CliError(
            '--key-id must be 1-128 characters of A-Z a-z 0-9 . _ : @ + = / - and not a secret (hks_..., whsec_...)',
            2,
          );
        }
        const rateLimit = rateLimitOption(options.rateLimit);
        await checkUsage((rules) => {
          rules.checkPrincipalName(options.principal);
          rules.checkKeySettings({ scopes: options.scope, rateLimit, label: options.label });
        });
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
        // Loaded with the result, so registering the command for --help loads none of the core.
        const { keyView } = await import('@hmac-kit/server/views');
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
}
