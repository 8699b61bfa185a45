/** `keys create | list | show | revoke | rotate` (with `import` and `usage` from their own modules, in help order). */
import type { HashAlgorithm } from '@hmac-kit/core';
import type { IssuedKey } from '@hmac-kit/keys';
import type { Command } from 'commander';
import { CliError, formatTable, print } from '../output.js';
import { type StoreCommandContext, unknownKey, withKeys } from './context.js';
import { registerKeyImport } from './key-import.js';
import { registerKeyUsage } from './key-usage.js';
import { checkUsage, collectList, durationOption, rateLimitOption, readPages } from './options.js';

/**
 * The JSON views (server/views.ts, which loads the core's scheme table) and the core's secret
 * parser, imported when a command has its result (the store it opened loaded the core already):
 * registering the commands for `--help` or `--version` loads neither.
 */
async function presenters() {
  const [views, { parseSecret }] = await Promise.all([import('@hmac-kit/server/views'), import('@hmac-kit/core')]);
  return {
    ...views,
    /**
     * The same secret as Standard Webhooks senders expect it: `whsec_` + standard base64 of the
     * raw bytes (docs/protocol.md 2.3), so the sender and hmac-kit compute the same HMAC key.
     */
    webhookSecretOf: (secret: string): string => `whsec_${Buffer.from(parseSecret(secret)).toString('base64')}`,
  };
}

/** The issued key as printed; `webhookSecret` only with `--webhook`. */
function issuedBlock(title: string, issued: IssuedKey, webhookSecret: string | undefined): string {
  const key = issued.key;
  return [
    title,
    `  key id:     ${key.keyId}`,
    `  secret:     ${issued.secret}`,
    ...(webhookSecret !== undefined
      ? [`  webhook:    ${webhookSecret}  (the same secret for Standard Webhooks senders)`]
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
function webhookField(webhookSecret: string | undefined): { webhookSecret?: string } {
  return webhookSecret !== undefined ? { webhookSecret } : {};
}

/**
 * Registers the subcommands of `keys` on `keysCommand`.
 *
 * @example
 * ```ts
 * registerKeyCommands(program.command('keys').description('API keys'), context);
 * ```
 */
export function registerKeyCommands(keysCommand: Command, context: StoreCommandContext): void {
  const { program, io, json, actor } = context;
  keysCommand
    .command('create')
    .description('create a key (the secret is shown once)')
    .requiredOption('--principal <name>', 'owner of the key')
    .option('--scope <scope>', 'scope (repeat, or comma-separated)', collectList('scope'), [])
    .option('--expires <duration>', 'lifetime, e.g. 90d, 12h (without it the key never expires)')
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
        // Whole seconds: 0.5s is 0, a key expired at birth.
        if (expiresInSeconds === 0) {
          throw new CliError(`invalid duration ${JSON.stringify(options.expires)}: --expires must be at least 1s`, 2);
        }
        const rateLimit = rateLimitOption(options.rateLimit);
        await checkUsage((rules) => {
          rules.checkPrincipalName(options.principal);
          rules.checkKeySettings({ scopes: options.scope, rateLimit, label: options.label });
        });
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
        const { issuedKeyView, webhookSecretOf } = await presenters();
        const webhookSecret = options.webhook === true ? webhookSecretOf(issued.secret) : undefined;
        print(io, json(), { ...issuedKeyView(issued), ...webhookField(webhookSecret) }, () =>
          issuedBlock(`Key created for ${issued.key.principal}`, issued, webhookSecret),
        );
      },
    );
  registerKeyImport(keysCommand, context);
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
        const { keyView } = await presenters();
        const rows = list.map(keyView);
        print(io, json(), rows, () =>
          formatTable(rows, ['keyId', 'principal', 'status', 'algorithm', 'scopes', 'label', 'createdAt', 'expiresAt']),
        );
      },
    );
  registerKeyUsage(keysCommand, context);
  keysCommand
    .command('show <keyId>')
    .description('show one key (never its secret)')
    .action(async (keyId: string) => {
      const key = await withKeys(program, io, (keys) => keys.getKey(keyId));
      if (!key) throw new CliError(unknownKey(keyId), 1, 'ERR_KEY_NOT_FOUND');
      const { keyView } = await presenters();
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
      await checkUsage((rules) => rules.checkRevokeReason(options.reason));
      const { key, already } = await withKeys(program, io, async (keys) => {
        const before = await keys.getKey(keyId);
        if (!before) throw new CliError(unknownKey(keyId), 1, 'ERR_KEY_NOT_FOUND');
        // Revoking is idempotent in the store; the user still learns that nothing changed.
        if (before.status === 'revoked') return { key: before, already: true };
        return { key: await keys.revokeKey(keyId, { reason: options.reason, actor }), already: false };
      });
      const { keyView } = await presenters();
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
      await checkUsage((rules) => rules.checkKeySettings({ label: options.label }));
      const rotated = await withKeys(program, io, async (keys) => {
        // Checked before rotating: a refused --webhook must not leave a rotated key behind.
        const current = webhook ? await keys.getKey(keyId) : undefined;
        if (current && current.algorithm !== 'sha256') {
          throw new CliError('--webhook needs a sha256 key: Standard Webhooks signs with HMAC-SHA256', 2);
        }
        return keys.rotateKey(keyId, { overlapSeconds, label: options.label, actor });
      });
      const { issuedKeyView, keyView, webhookSecretOf } = await presenters();
      const webhookSecret = webhook ? webhookSecretOf(rotated.secret) : undefined;
      print(
        io,
        json(),
        {
          ...issuedKeyView(rotated),
          ...webhookField(webhookSecret),
          previous: keyView(rotated.previous),
        },
        () =>
          issuedBlock(
            `Key ${keyId} rotated; it stops working at ${rotated.previous.expiresAt?.toISOString() ?? 'once'}.\nNew key:`,
            rotated,
            webhookSecret,
          ),
      );
    });
}
