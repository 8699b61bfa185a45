import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCompletion } from './completion.js';
import { registerImportCommands } from './import-django.js';
import { CliError, type Io } from './output.js';
import { registerRequestCommands } from './request.js';
import { invokedAs, registerServe } from './serve.js';
import { registerStoreCommands } from './store-commands/index.js';

/** This package's version, from its package.json (one folder above src/ and dist/). */
export function cliVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function defaultIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    stderrIsTTY: process.stderr.isTTY === true,
    ...(process.stdout.isTTY ? { helpWidth: process.stdout.columns } : {}),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
  };
}

/** Builds the `hmac-kit` command tree. `setExit` lets long-running commands (serve) hand back their exit code. */
function buildProgram(
  io: Io,
  setExit: (code: Promise<number>) => void,
  options: { cli: string; jsonErrors: boolean },
): Command {
  const program = new Command('hmac-kit')
    .description('HMAC request signing: keys, verifying server, signed requests')
    .version(cliVersion(), '-V, --version', 'print the version')
    .option(
      '--db <url|file>',
      "database: postgres://... URL or SQLite file (default: the project's .hmac-kit/hmac-kit.db) [HMAC_KIT_DATABASE_URL]",
    )
    .option('--json', 'machine-readable JSON output (errors too: one JSON object on stderr)')
    .option('--master-key-file <file>', 'master key file [HMAC_KIT_MASTER_KEY_FILE]')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // Commander would otherwise ask process.stdout and process.stderr.
      getOutHelpWidth: () => io.helpWidth ?? 80,
      getErrHelpWidth: () => io.helpWidth ?? 80,
      outputError: (text, write) => {
        const message = text.replace(/^error: /, '').trim();
        write(options.jsonErrors ? `${errorJson(message, 'ERR_USAGE', 2)}\n` : `hmac-kit: ${message}\n`);
      },
    })
    .exitOverride();
  registerServe(program, io, setExit, options.cli);
  registerStoreCommands(program, io);
  registerRequestCommands(program, io, setExit);
  registerImportCommands(program, io);
  registerCompletion(program, io);
  for (const command of program.commands) {
    command.exitOverride();
    command.configureOutput(program.configureOutput());
  }
  return program;
}

/** The program's options that take a value (their value is never read as a command or an option). */
const PROGRAM_VALUE_OPTIONS = new Set(['--db', '--master-key-file']);
/** `request`'s options that take a value (request.ts). */
const REQUEST_VALUE_OPTIONS = new Set([
  '-H',
  '--header',
  '--data',
  '--data-file',
  '--json-body',
  '--key-id',
  '--secret-env',
  '--secret-file',
  '--secret',
  '--scheme',
  '--config',
  '--secret-encoding',
  '--algorithm',
  '--region',
  '--service',
]);

/**
 * `request --json <data>` (curl's) beside the program's `--json` (JSON output): commander reads the
 * program's options anywhere on the line, so it took that `--json` as the switch and the data as a
 * stray argument. After the `request` command, a `--json` followed by a value (a word not starting
 * with `-`) or written `--json=<data>` is renamed `--json-body` (request's hidden spelling) before
 * parsing; a `--json` with no value, or before `request`, stays the output switch.
 *
 * @example
 * ```ts
 * requestJsonArgs(['node', 'hmac-kit', 'request', 'POST', url, '--json', '{}']);
 * // ['node', 'hmac-kit', 'request', 'POST', url, '--json-body', '{}']
 * ```
 */
function requestJsonArgs(argv: readonly string[]): string[] {
  const args = [...argv];
  let index = 2;
  while (index < args.length) {
    const arg = args[index] as string;
    if (arg === '--') return args;
    if (PROGRAM_VALUE_OPTIONS.has(arg)) index += 2;
    else if (arg.startsWith('-')) index += 1;
    else break;
  }
  if (args[index] !== 'request') return args;
  for (index += 1; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === '--') break;
    if (REQUEST_VALUE_OPTIONS.has(arg) || PROGRAM_VALUE_OPTIONS.has(arg)) {
      index++;
    } else if (arg.startsWith('--json=')) {
      args[index] = `--json-body=${arg.slice('--json='.length)}`;
    } else if (arg === '--json' && index + 1 < args.length && !(args[index + 1] as string).startsWith('-')) {
      args[index] = '--json-body';
      index++;
    }
  }
  return args;
}

/** An error as `--json` prints it: one object, one line. */
function errorJson(message: string, code: string, exitCode: number): string {
  return JSON.stringify({ error: { code, message, exitCode } });
}

/** One line for any failure: known store errors get a hint on what to do. */
function describeError(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'failed';
  const code = (error as { code?: unknown })?.code;
  if (code === 'ERR_KEY_LIMIT_EXCEEDED') {
    return `key limit reached: ${message} (revoke one, or raise HMAC_KIT_MAX_KEYS)`;
  }
  if (code === 'ERR_MASTER_KEY_MISMATCH' || code === 'ERR_MASTER_KEY_UNKNOWN') {
    return `wrong master key: ${message} (check HMAC_KIT_MASTER_KEYS or the master key file)`;
  }
  if (code === 'ERR_STORE_UNAVAILABLE' || code === 'ECONNREFUSED') return `database unreachable: ${message}`;
  return message;
}

/**
 * Runs the `hmac-kit` command line. Returns the exit code; never calls `process.exit`
 * itself, and reads and writes only through `io` (default: this process's streams,
 * environment and folder), so tests and tools can run it in-process. `serve` is the
 * exception: it owns the process (signals, workers) until it stops.
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv);
 * ```
 */
export async function main(given: string[], io: Io = defaultIo()): Promise<number> {
  let exit: Promise<number> = Promise.resolve(0);
  const argv = requestJsonArgs(given);
  // Known before parsing, so that even a parse error (unknown option) comes out as JSON.
  const jsonErrors = argv.slice(2).includes('--json');
  const program = buildProgram(
    io,
    (code) => {
      exit = code;
    },
    { cli: invokedAs(argv, io.env, io.cwd ?? process.cwd()), jsonErrors },
  );
  const fail = (message: string, code: string, exitCode: number): number => {
    io.stderr(jsonErrors ? `${errorJson(message, code, exitCode)}\n` : `hmac-kit: ${message}\n`);
    return exitCode;
  };
  try {
    await program.parseAsync(argv);
    return await exit;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; their exit code is 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) return fail(error.message, error.code, error.exitCode);
    const code = (error as { code?: unknown })?.code;
    return fail(describeError(error), typeof code === 'string' && code.startsWith('ERR_') ? code : 'ERR_FAILED', 1);
  }
}

export { decryptDjangoSecret } from './import-django.js';
export { CliError, formatTable, type Io } from './output.js';
export const PACKAGE_NAME = 'hmac-kit';
