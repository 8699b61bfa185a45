import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, tempDir } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { gone, startServeProcess } from './support/serve-process.js';
import { silentPostgres } from './support/silent-postgres.js';

const holdWorkers = fileURLToPath(new URL('./support/hold-workers.mjs', import.meta.url));

/** `hmac-kit serve` in a process group of its own, with a 1 s shutdown timeout. */
const serve = (args: string[], env: Record<string, string> = {}) =>
  startServeProcess(['--shutdown-timeout', '1s', ...args], env, true);

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
