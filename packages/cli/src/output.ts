import { resolve } from 'node:path';

/**
 * Refuses a `--key-id` value that looks like a secret (`hks_...`, 64 hex digits, long base64):
 * sent as a key id it would travel in clear in a header and land in logs. The value is not
 * echoed (it is probably the secret).
 *
 * @example
 * ```ts
 * await checkKeyIdOption(flags.keyId); // throws CliError for 'hks_...'
 * ```
 */
export async function checkKeyIdOption(keyId: string | undefined, option = '--key-id'): Promise<void> {
  if (keyId === undefined) return;
  // Imported here, not at the top: @hmac-kit/keys/ids re-exports the core's secret format, and
  // every command module imports this file (--help and --version would load the whole core).
  const { looksLikeSecret } = await import('@hmac-kit/keys/ids');
  if (looksLikeSecret(keyId)) {
    throw new CliError(
      `${option} looks like a secret, not a key id (key ids look like hk_...); give the secret with --secret-env or --secret-file`,
      2,
    );
  }
}

/**
 * Everything a command takes from its process and gives back to it, so that `main()` can run
 * inside another program (a test, a tool embedding the CLI) without touching `process`.
 * Only `serve` still owns the process it runs in (signals, workers, exit).
 *
 * @example
 * ```ts
 * let out = '';
 * const code = await main(['node', 'hmac-kit', '--db', 'keys.db', 'keys', 'list'], {
 *   stdout: (text) => { out += text; },
 *   stderr: () => {},
 *   env: {},
 *   readStdin: async () => new Uint8Array(),
 *   cwd: '/srv/app',
 * });
 * ```
 */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  readStdin: () => Promise<Uint8Array>;
  /**
   * The folder relative paths (`--db`, `--secret-file`, `--config`, ...) and the project's
   * `.hmac-kit/` are found from. Default `process.cwd()`.
   */
  cwd?: string;
  /** Whether stderr is a terminal: `request -v` colours its diff only there. Default false. */
  stderrIsTTY?: boolean;
  /** The width `--help` is wrapped to (a terminal's columns). Default 80, as on a pipe. */
  helpWidth?: number;
}

/**
 * A file named on the command line, as the command opens it: relative to {@link Io.cwd} when one
 * was given, else as typed (relative to the process's folder). Messages keep the name as typed.
 *
 * @example
 * ```ts
 * readFileSync(pathFrom(io, flags.secretFile), 'utf8');
 * ```
 */
export function pathFrom(io: Io, file: string): string {
  return io.cwd === undefined ? file : resolve(io.cwd, file);
}

/** A failure the user caused or can fix: printed as one line `hmac-kit: <message>`, exit code `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;
  /** Stable code for `--json` error output; default `ERR_USAGE` (exit code 2) or `ERR_FAILED`. */
  readonly code: string;
  constructor(message: string, exitCode = 1, code?: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = code ?? (exitCode === 2 ? 'ERR_USAGE' : 'ERR_FAILED');
  }
}

/** Formats rows as an aligned plain-text table (header, then one line per row). */
export function formatTable(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  const cell = (value: unknown) =>
    value === undefined || value === null
      ? '-'
      : Array.isArray(value)
        ? value.join(',') || '-'
        : value instanceof Date
          ? value.toISOString()
          : String(value);
  const header = columns.map((column) => column.toUpperCase());
  const body = rows.map((row) => columns.map((column) => cell(row[column])));
  const widths = header.map((title, index) => Math.max(title.length, ...body.map((line) => line[index]?.length ?? 0)));
  const render = (line: string[]) =>
    line
      .map((value, index) => value.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd();
  return [render(header), ...body.map(render)].join('\n') + '\n';
}

/** Prints `value` as JSON (with `--json`) or through `human` otherwise. */
export function print(io: Io, json: boolean, value: unknown, human: () => string): void {
  io.stdout(json ? `${JSON.stringify(value)}\n` : human());
}
