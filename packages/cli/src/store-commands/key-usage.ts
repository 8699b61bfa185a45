/** `keys usage`: which schemes each key was used with, how often and when last (weak ones marked). */
import type { DeclarativeSchemeDefinition } from '@hmac-kit/core';
import type { Command } from 'commander';
import { CliError, checkKeyIdOption, formatTable, pathFrom, print } from '../output.js';
import { type StoreCommandContext, unknownKey, withKeys } from './context.js';
import { readPages } from './options.js';

/** Registers `keys usage` on `keysCommand`. */
export function registerKeyUsage(keysCommand: Command, context: StoreCommandContext): void {
  const { program, io, json } = context;
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
        await checkKeyIdOption(options.keyId);
        if (options.scheme !== undefined && !/^[\x21-\x7e]{1,64}$/.test(options.scheme)) {
          throw new CliError(`invalid scheme ${JSON.stringify(options.scheme)}: use a scheme name such as rfc9421`, 2);
        }
        let declared: readonly DeclarativeSchemeDefinition[] = [];
        if (options.config !== undefined) {
          const { ConfigError, loadConfig } = await import('@hmac-kit/server');
          try {
            declared = loadConfig({ configFile: pathFrom(io, options.config) }).legacySchemes ?? [];
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
        // Loaded with the result, so registering the command for --help loads none of the core.
        const { keyUsageView } = await import('@hmac-kit/server/views');
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
}
