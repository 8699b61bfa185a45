// better-sqlite3 and pg are optional peer dependencies of hmac-kit and @hmac-kit/server: a user
// who only signs requests installs no native addon. Here they are made unresolvable (as when
// not installed) with a module resolution hook; test/packaging/install.test.ts checks the same
// on a real install from the packed tarballs.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, runCli, tempDir } from '../../../test-support/processes.js';

const hook = join(import.meta.dirname, 'support', 'hide-modules.mjs');
const withoutDrivers = { NODE_OPTIONS: `--import ${hook}`, HMAC_KIT_TEST_HIDE_MODULES: 'better-sqlite3,pg' };
const SECRET = `hks_${Buffer.alloc(32, 7).toString('base64url')}`;

function expectDriverHint(stderr: string, driver: string): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^hmac-kit: /);
  expect(lines[0]).toContain(`npm install ${driver}`);
  expect(lines[0]).toContain('-g');
}

describe('hmac-kit without the optional database drivers', () => {
  beforeAll(() => buildOnce());

  it('signs requests', async () => {
    const result = await runCli(
      ['sign', 'GET', 'https://api.example.com/v1/whoami', '--key-id', 'hk_demo', '--secret-env', 'S'],
      {
        env: { ...withoutDrivers, S: SECRET },
      },
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Signature-Input: sig=/m);
    expect(result.stdout).toMatch(/^Signature: sig=:/m);
  });

  it('key commands on SQLite say in one line how to add better-sqlite3, and create nothing', async () => {
    const dir = tempDir();
    const result = await runCli(['--db', join(dir, 'keys.db'), 'principals', 'list'], {
      cwd: dir,
      env: withoutDrivers,
    });
    expect(result.code, result.stderr).toBe(1);
    expectDriverHint(result.stderr, 'better-sqlite3');
    expect(readdirSync(dir), 'nothing created').toEqual([]);
  });

  it('serve on the default SQLite file says how to add better-sqlite3, and creates nothing', async () => {
    const dir = tempDir();
    const result = await runCli(['serve', '--port', '0'], { cwd: dir, env: withoutDrivers });
    expect(result.code, result.stderr).toBe(1);
    expectDriverHint(result.stderr, 'better-sqlite3');
    expect(readdirSync(dir), 'nothing created').toEqual([]);
  });

  it('commands on PostgreSQL say how to add pg', async () => {
    const dir = tempDir();
    const result = await runCli(['--db', 'postgres://127.0.0.1:5432/test', 'keys', 'list'], {
      cwd: dir,
      env: withoutDrivers,
    });
    expect(result.code, result.stderr).toBe(1);
    expectDriverHint(result.stderr, 'pg');
    expect(readdirSync(dir), 'nothing created').toEqual([]);
  });

  it('the django import says how to add the driver for the database it reads', async () => {
    const dir = tempDir();
    const result = await runCli(
      ['--db', join(dir, 'keys.db'), 'import', 'django-hmac', '--from', 'postgres://127.0.0.1:5432/test'],
      {
        cwd: dir,
        env: { ...withoutDrivers, HMAC_KD_PASSWORD: 'the django SECRET_KEY' },
      },
    );
    expect(result.code, result.stderr).not.toBe(0);
    expectDriverHint(result.stderr, 'pg');
  });
});
