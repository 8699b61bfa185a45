/**
 * review17: one SIGTERM while `hmac-kit serve` starts (what Kubernetes, Docker and systemd send) is
 * held until the server has started, then it stops as usual. A start-up that never completes (a
 * database that accepts the connection and never answers, a worker that never becomes ready) held it
 * for ever: only a second signal, or the orchestrator's SIGKILL after its grace period (exit 137, no
 * `stopped` line, the workers killed with it), ended the process. Now the stop waits for the start-up
 * at most the shutdown timeout (`--shutdown-timeout`), then exits as a forced stop (exit 1, log
 * written out, workers reaped).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { binPath, buildOnce, cleanEnv, onJsonLines, tempDir } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { silentPostgres } from './support/silent-postgres.js';

const holdWorkers = fileURLToPath(new URL('./support/hold-workers.mjs', import.meta.url));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
});

function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [binPath, 'serve', '--port', '0', '--shutdown-timeout', '1s', ...args], {
    cwd: tempDir(),
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    // A group of its own, so that afterEach can end whatever a failed case left behind.
    detached: true,
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

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('review17: one SIGTERM during a start-up that never completes', () => {
  beforeAll(() => {
    buildOnce();
  });

  it('a single process held by its database: exits 1 after the shutdown timeout, the log written out', async () => {
    const database = await silentPostgres();
    try {
      const started = serve(['--workers', '1', '--db', database.url]);
      await until(() => database.queried());
      started.child.kill('SIGTERM');
      expect(await started.exited).toEqual({ code: 1, signal: null });
      await started.closed;
      expect(started.logs.map((line) => line.msg)).toEqual([
        'signal received',
        'the server did not start within the shutdown timeout after a stop was asked: exiting',
      ]);
    } finally {
      await database.close();
    }
  });

  it('workers that never become ready: the supervisor reaps them and exits 1 after the shutdown timeout', async () => {
    const dir = tempDir();
    const started = serve(['--workers', '2', '--db', join(dir, 'hmac-kit.db')], {
      NODE_OPTIONS: `--import ${holdWorkers}`,
      HMAC_KIT_TEST_HOLD_DIR: dir,
      HMAC_KIT_TEST_HOLD_AT: 'welcome',
    });
    const workersFile = join(dir, 'workers');
    const workers = () =>
      existsSync(workersFile) ? readFileSync(workersFile, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    await until(() => workers().length === 2);
    // Only the supervisor (PID 1 of a container) is signalled, as an orchestrator does.
    started.child.kill('SIGTERM');
    expect(await started.exited).toEqual({ code: 1, signal: null });
    expect(workers().filter((pid) => !gone(pid))).toEqual([]);
    await started.closed;
    const supervisor = started.logs.filter((line) => line.pid === undefined).map((line) => line.msg);
    expect(supervisor).toEqual([
      'signal received',
      'the server did not start within the shutdown timeout after a stop was asked: exiting',
      'stopped',
    ]);
    expect(started.logs.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 1 });
  });
});
