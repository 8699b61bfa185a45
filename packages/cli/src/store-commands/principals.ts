/** `principals add | list | disable | enable | set-password`. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, formatTable, type Io, pathFrom, print } from '../output.js';
import { type StoreCommandContext, withKeys } from './context.js';
import { checkUsage, readPages } from './options.js';

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
      return readFileSync(pathFrom(io, options.passwordFile), 'utf8').replace(/\r?\n$/, '');
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

/**
 * Registers `principals` and its subcommands on `program`.
 *
 * @example
 * ```ts
 * registerPrincipalCommands({ program, io, json: () => program.opts().json === true, actor: 'cli' });
 * ```
 */
export function registerPrincipalCommands(context: StoreCommandContext): void {
  const { program, io, json, actor } = context;
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
      // Before the store is opened (this command may create it): a usage error creates nothing.
      await checkUsage((rules) => {
        rules.checkPrincipalName(name);
        if (password !== undefined) rules.checkPassword(password);
      });
      const principal = await withKeys(
        program,
        io,
        (keys) => keys.createPrincipal({ name, kind: options.kind as 'user' | 'service', password, actor }),
        { create: true },
      );
      // Loaded with the result, so registering the command for --help loads none of the core.
      const { principalView } = await import('@hmac-kit/server/views');
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
      // Loaded with the result, so registering the command for --help loads none of the core.
      const { principalView } = await import('@hmac-kit/server/views');
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
      await checkUsage((rules) => rules.checkPrincipalName(name));
      const principal = await withKeys(program, io, (keys) => keys.disablePrincipal(name, { actor }));
      // Loaded with the result, so registering the command for --help loads none of the core.
      const { principalView } = await import('@hmac-kit/server/views');
      print(io, json(), principalView(principal), () => `Principal ${name} disabled; its keys no longer verify.\n`);
    });
  principals
    .command('enable <name>')
    .description('enable a disabled principal')
    .action(async (name: string) => {
      await checkUsage((rules) => rules.checkPrincipalName(name));
      const principal = await withKeys(program, io, (keys) => keys.enablePrincipal(name, { actor }));
      // Loaded with the result, so registering the command for --help loads none of the core.
      const { principalView } = await import('@hmac-kit/server/views');
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
      await checkUsage((rules) => {
        rules.checkPrincipalName(name);
        if (password !== null) rules.checkPassword(password);
      });
      await withKeys(program, io, (keys) => keys.setPassword(name, password, { actor }));
      print(io, json(), { name, hasPassword: password !== null }, () =>
        password === null ? `Password of ${name} removed.\n` : `Password of ${name} set.\n`,
      );
    },
  );
}
