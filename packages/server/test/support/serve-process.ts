/**
 * `hmac-kit serve` as a real process for the start-up and signal tests (startup-signals.test.ts,
 * review17-startup-stop-bound.test.ts): its JSON log lines collected as they come, the moment it
 * exited, and every process a test left running killed after it (with its process group when detached).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach } from 'vitest';
import { binPath, cleanEnv, onJsonLines, tempDir } from '../../../../test-support/processes.js';

/** A started `hmac-kit serve`. */
export interface StartedServe {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** 'exit', not 'close': the moment the process ended, whatever its children still hold open. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Once every line the process (and whatever shares its stdout) wrote has been read. */
  closed: Promise<unknown>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // A detached one leads a process group of its own: its workers go with it.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
});

/**
 * Starts `hmac-kit serve --port 0 <args>` (the built CLI) in a temporary directory. `detached`: a process
 * group of its own, as a terminal gives a command (a signal to the group reaches every worker too).
 *
 * @example
 * ```ts
 * const started = startServeProcess(['--workers', '2', '--db', join(dir, 'hmac-kit.db')], {}, true);
 * process.kill(-started.child.pid!, 'SIGINT');
 * expect(await started.exited).toEqual({ code: 0, signal: null });
 * ```
 */
export function startServeProcess(args: string[], env: Record<string, string> = {}, detached = false): StartedServe {
  const child = spawn(process.execPath, [binPath, 'serve', '--port', '0', ...args], {
    cwd: tempDir(),
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  children.push(child);
  const logs: Array<Record<string, unknown>> = [];
  onJsonLines(child.stdout!, (entry) => logs.push(entry));
  child.stderr!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const closed = new Promise((resolve) => child.once('close', resolve));
  return { child, logs, exited, closed };
}

/** Whether process `pid` is gone (a zombie nobody reaped is not). */
export function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
