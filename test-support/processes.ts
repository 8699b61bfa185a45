import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

/** The repository root (tests run from source; the server process runs from dist). */
export const repoRoot = fileURLToPath(new URL('../', import.meta.url));
export const binPath = join(repoRoot, 'packages/cli/bin/hmac-kit.js');

let built = false;

/**
 * Builds the CLI and everything it references (`tsc -b packages/cli`) once per worker.
 * A file lock keeps parallel workers from writing the same outputs at once.
 */
export function buildOnce(): void {
  // The global setup already built everything for this run (test-support/global-setup.ts).
  if (built || inject('distBuilt')) return;
  execFileSync(
    'flock',
    ['/tmp/hmac-kit-server-tests-build.lock', join(repoRoot, 'node_modules/.bin/tsc'), '-b', 'packages/cli'],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  built = true;
}

export function tempDir(prefix = 'hmac-kit-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Environment for child processes: no HMAC_KIT_* leaking in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('HMAC_KIT_')) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hmac-kit <args>` as a real process. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    collectOutput(child).then(resolve, reject);
    // A command that exits without reading its input closes the pipe first: the write then fails
    // with EPIPE, which says nothing about the command (its exit code and output do).
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs `hmac-kit <args>` inside this test worker: the CLI's `main()` from source, with the same
 * arguments, folder (default the repository root), environment ({@link cleanEnv}) and stdin as
 * {@link runCli}, and the same result. It saves the ~0.45 s of CPU a CLI process costs (node start
 * and ~400 modules), so use it wherever the test is about what a command does; use {@link runCli}
 * where it is about the process: the bin launcher, the exit status the OS sees, stdin as a pipe,
 * signals, `serve` (refused here: it owns its process), variables only a process reads (`NODE_*`,
 * the PostgreSQL driver's `PG*`). Throws when the command left a file open (a store not closed).
 *
 * @example
 * ```ts
 * const { code, stdout } = await runCliInProcess(['--db', db, '--json', 'principals', 'list']);
 * ```
 */
export async function runCliInProcess(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {},
): Promise<CliResult> {
  if (args.includes('serve')) throw new Error('runCliInProcess: serve owns its process; use startServe or runCli');
  const processOnly = Object.keys(options.env ?? {}).filter((name) => /^(NODE_|PG)/.test(name));
  if (processOnly.length > 0) {
    throw new Error(`runCliInProcess: only a process reads ${processOnly.join(', ')}; use runCli`);
  }
  // Loaded on first use: test files that only start processes never pay for the CLI's modules.
  const { main } = await import('hmac-kit');
  const input = new TextEncoder().encode(options.input ?? '');
  let stdout = '';
  let stderr = '';
  const openBefore = openFiles();
  let code: number;
  try {
    code = await main([process.execPath, binPath, ...args], {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
      env: cleanEnv(options.env),
      readStdin: async () => input.slice(),
      cwd: options.cwd ?? repoRoot,
      stderrIsTTY: false,
    });
  } catch (error) {
    // What bin/hmac-kit.js does with a rejection.
    stderr += `hmac-kit: ${error instanceof Error ? error.message : String(error)}\n`;
    code = 1;
  }
  // Something else in this worker (a test's own setup running alongside) may hold a file for a
  // moment; a store the command did not close stays open for good.
  let leaked = [...openFiles()].filter((file) => !openBefore.has(file));
  for (let polls = 0; leaked.length > 0 && polls < 50; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    leaked = [...openFiles()].filter((file) => !openBefore.has(file));
  }
  if (leaked.length > 0) {
    throw new Error(`hmac-kit ${args.join(' ')} left open: ${leaked.join(', ')} (a store or file not closed)`);
  }
  return { code, stdout, stderr };
}

/**
 * The regular files this process holds open (Linux: /proc/self/fd; empty elsewhere). A command
 * run in-process must close its SQLite database and every file before `main()` returns, as a
 * process exiting would.
 */
function openFiles(): Set<string> {
  const files = new Set<string>();
  let descriptors: string[];
  try {
    descriptors = readdirSync('/proc/self/fd');
  } catch {
    return files;
  }
  for (const descriptor of descriptors) {
    try {
      const target = readlinkSync(`/proc/self/fd/${descriptor}`);
      if (target.startsWith('/') && statSync(target).isFile()) files.add(target);
    } catch {
      // Closed meanwhile (the directory listing's own descriptor), or deleted.
    }
  }
  return files;
}

/**
 * Collects what a child process writes on stdout and stderr, and resolves with its exit code once it
 * closed (-1 when a signal ended it); rejects when it cannot be started.
 *
 * @example
 * const { code, stdout } = await collectOutput(spawn('bash', ['-c', 'echo hi'], { stdio: ['ignore', 'pipe', 'pipe'] }));
 */
export function collectOutput(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Calls `onEntry` with each JSON line a process writes on `stream` (its JSON log), in order; lines
 * that are not JSON are passed over, a line split across chunks is joined first.
 *
 * @example
 * onJsonLines(child.stdout, (entry) => { if (entry.msg === 'listening') console.log(entry.url); });
 */
export function onJsonLines(stream: Readable, onEntry: (entry: Record<string, unknown>) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      onEntry(entry);
    }
  });
}

/** The `hmac-kit serve` processes {@link startServe} started in this worker that have not exited yet. */
const runningServes = new Set<ChildProcess>();

/**
 * How many `hmac-kit serve` processes started by {@link startServe} in this test worker are running
 * (starting ones included). Each test file has its own database, so these are the only servers that
 * can hold a view of it (see `createKeyWithCli`).
 */
export function runningServeCount(): number {
  return runningServes.size;
}

/** A running `hmac-kit serve` child process. */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  stderr(): string;
  /** SIGTERM and wait for exit; resolves the exit code. */
  stop(): Promise<number | null>;
  /** What the test reads the server's stdout from (child.stdout, or the reading end of its FIFO). */
  stdout?: Readable;
  /** Settles once the server's stdout reached its end (every line read): with `stdout: 'fifo'`. */
  stdoutClosed?: Promise<void>;
  /** The child's 'close' (it exited and its stdio reached their ends), listened for from its start. */
  closed?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * How a `hmac-kit serve` process ended: its exit code and signal, once every line it wrote was read.
 *
 * @example
 * ```ts
 * server.child.kill('SIGTERM');
 * expect(await exitOf(server)).toEqual({ code: 0, signal: null });
 * ```
 */
export function exitOf(server: ServeProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = server;
  // An exited child's lines may still be unread (its 'exit' can come before its stdout's end): the
  // 'close' listened for since the start says when they all were (hygiene20: crash-exit-log lost the
  // last line when the server had exited just before this call).
  if (server.closed !== undefined) {
    const { closed, stdoutClosed } = server;
    return closed.then(async (ended) => {
      await stdoutClosed;
      return ended;
    });
  }
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  // 'close' (not 'exit'): by then every line the process wrote has been read (a FIFO's too: stdoutClosed).
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      void (server.stdoutClosed ?? Promise.resolve()).then(() => resolve({ code, signal }));
    }),
  );
}

/**
 * How long {@link startServe} waits for `"msg":"listening"` by default: a cap for a hang, not a
 * speed check. The wait ends on its condition (the line, or the process exiting); the cap only
 * bounds a process that does neither. 45 s was tight for `--workers` at a load average above 20
 * (a supervisor and each worker load the server's modules on 2 shared cores). Below the default
 * test timeout (vitest.config.ts: 120 s; hooks 180 s), so a test that starts a serve with it gets
 * the report below rather than a bare timeout.
 */
export const SERVE_START_CAP_MS = 100_000;

/** How many of its last stderr lines (and log lines) a serve that did not start in time is reported with. */
const REPORTED_LINES = 20;

/** The last `count` non-empty lines of `text`. */
function lastLines(text: string, count: number): string[] {
  return text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .slice(-count);
}

/**
 * Starts `hmac-kit serve --port 0 ...` and resolves once it logs `"msg":"listening"`. One process
 * unless the test asks for workers (`--workers` or `HMAC_KIT_WORKERS`): the default, one worker per
 * core, would fork a supervisor and workers for every test that is not about the process model.
 * A process that neither listens nor exits within `timeoutMs` (default {@link SERVE_START_CAP_MS})
 * is killed, and the rejection names the wait, the load average, and the last lines of its stderr
 * and of its log.
 */
export function startServe(
  args: string[],
  options: {
    cwd?: string;
    env?: Record<string, string | undefined>;
    timeoutMs?: number;
    /** Global options, placed before `serve`. */
    globalArgs?: string[];
    /** The script to run (default {@link binPath}), e.g. a symlink standing for an installed bin. */
    bin?: string;
    /**
     * 'fifo': stdout is a pipe (a FIFO, as containerd gives a container; a shell's `|`) instead of
     * the socket pair Node's spawn() makes; read through `ServeProcess.stdout`.
     */
    stdout?: 'fifo';
  } = {},
): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const script = options.bin ?? binPath;
    let fifoWriter: number | undefined;
    let fifoReader: number | undefined;
    if (options.stdout === 'fifo') {
      const path = join(tempDir('hmac-kit-fifo-'), 'stdout');
      execFileSync('mkfifo', [path]);
      fifoReader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      fifoWriter = openSync(path, constants.O_WRONLY);
    }
    const child = spawn(process.execPath, [script, ...(options.globalArgs ?? []), 'serve', '--port', '0', ...args], {
      cwd: options.cwd ?? tempDir(),
      // HMAC_KIT_TEST_UPSTREAM_CLIENT=builtin runs every spawned gateway on the builtin upstream client.
      env: cleanEnv({
        HMAC_KIT_WORKERS: '1',
        ...(process.env.HMAC_KIT_TEST_UPSTREAM_CLIENT
          ? { HMAC_KIT_UPSTREAM_CLIENT: process.env.HMAC_KIT_TEST_UPSTREAM_CLIENT }
          : {}),
        ...options.env,
      }),
      stdio: ['ignore', fifoWriter ?? 'pipe', 'pipe'],
    });
    if (fifoWriter !== undefined) closeSync(fifoWriter);
    const stdout =
      fifoReader === undefined
        ? (child.stdout as Readable)
        : new Socket({ fd: fifoReader, readable: true, writable: false });
    const stdoutClosed =
      fifoReader === undefined ? undefined : new Promise<void>((done) => stdout.once('close', () => done()));
    runningServes.add(child);
    child.once('exit', () => runningServes.delete(child));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => done({ code, signal })),
    );
    const logs: Array<Record<string, unknown>> = [];
    let stderr = '';
    let settled = false;
    const capMs = options.timeoutMs ?? SERVE_START_CAP_MS;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      const stderrTail = lastLines(stderr, REPORTED_LINES);
      const logTail = logs.slice(-REPORTED_LINES).map((entry) => JSON.stringify(entry));
      reject(
        new Error(
          [
            `serve did not log "listening" within ${capMs} ms (load average ${loadavg()
              .map((load) => load.toFixed(1))
              .join(' ')}); killed`,
            `last ${stderrTail.length} stderr lines:`,
            ...stderrTail.map((line) => `  ${line}`),
            `last ${logTail.length} log lines:`,
            ...logTail.map((line) => `  ${line}`),
          ].join('\n'),
        ),
      );
    }, capMs);
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    (child.stderr as Readable).on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    onJsonLines(stdout, (entry) => {
      logs.push(entry);
      if (!settled && entry.msg === 'listening' && typeof entry.url === 'string') {
        settled = true;
        clearTimeout(timer);
        resolve({
          url: entry.url,
          child,
          logs,
          stderr: () => stderr,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
          stdout,
          closed,
          ...(stdoutClosed ? { stdoutClosed } : {}),
        });
      }
    });
    child.once('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr: ${stderr.trim()}`));
    });
  });
}
