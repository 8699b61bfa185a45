import { Command, CommanderError } from 'commander';
import { registerImportCommands } from './import-django.js';
import { registerStoreCommands } from './keys.js';
import { CliError, type Io } from './output.js';
import { registerRequestCommands } from './request.js';
import { registerServe } from './serve.js';

function defaultIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
  };
}

/** Builds the `hmac-kit` command tree. `setExit` lets long-running commands (serve) hand back their exit code. */
function buildProgram(io: Io, setExit: (code: Promise<number>) => void): Command {
  const program = new Command('hmac-kit')
    .description('HMAC request signing: keys, verifying server, signed requests')
    .option('--db <url|file>', 'database: postgres://... URL or SQLite file [HMAC_KIT_DATABASE_URL]')
    .option('--json', 'machine-readable JSON output')
    .option('--master-key-file <file>', 'master key file [HMAC_KIT_MASTER_KEY_FILE]')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(`hmac-kit: ${text.replace(/^error: /, '').trim()}\n`),
    })
    .exitOverride();
  registerServe(program, io, setExit);
  registerStoreCommands(program, io);
  registerRequestCommands(program, io, setExit);
  registerImportCommands(program, io);
  for (const command of program.commands) {
    command.exitOverride();
    command.configureOutput(program.configureOutput());
  }
  return program;
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
 * itself, so tests can run it in-process.
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv);
 * ```
 */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  let exit: Promise<number> = Promise.resolve(0);
  const program = buildProgram(io, (code) => {
    exit = code;
  });
  try {
    await program.parseAsync(argv);
    return await exit;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; their exit code is 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      io.stderr(`hmac-kit: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(`hmac-kit: ${describeError(error)}\n`);
    return 1;
  }
}

export { decryptDjangoSecret } from './import-django.js';
export { CliError, formatTable, type Io } from './output.js';
export const PACKAGE_NAME = 'hmac-kit';
