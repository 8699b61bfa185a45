// A usage error is found before any store is opened (session 26, helper fix26): exit 2, one line on
// stderr, and nothing created or changed. `principals add 'bad name!'` used to create the database
// and the master key file first, then fail with exit 1 (the key service's TypeError); `keys create`
// with a malformed principal, scope or label, `keys rotate --label`, `keys revoke --reason` and
// `principals set-password` with an over-long password did the same after opening the store.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess, tempDir } from '../../../test-support/processes.js';

function expectUsageError(result: { code: number; stderr: string }, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^hmac-kit: /);
  expect(lines[0]).toMatch(pattern);
}

function contents(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

const NAME_RULE = /principal name must be 1-128 characters of \[A-Za-z0-9\._@-\]/;

describe('usage errors create nothing', () => {
  it.each([
    ['a space and !', 'bad name!'],
    ['a slash', 'a/b'],
    ['129 characters', 'p'.repeat(129)],
    ['non-ASCII', 'jürgen'],
  ])('principals add with %s: exit 2, no database, no master key file', async (_what, name) => {
    const cwd = tempDir();
    const result = await runCliInProcess(['--db', 'keys.db', 'principals', 'add', name], { cwd });
    expectUsageError(result, NAME_RULE);
    expect(contents(cwd)).toEqual([]);
  });

  it('principals add with an over-long password: exit 2, nothing but the password file', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'password.txt'), 'x'.repeat(1025));
    const result = await runCliInProcess(
      ['--db', 'keys.db', 'principals', 'add', 'alice', '--kind', 'user', '--password-file', 'password.txt'],
      { cwd },
    );
    expectUsageError(result, /password is too long/);
    expect(contents(cwd)).toEqual(['password.txt']);
  });

  it.each([
    ['a malformed principal', ['--principal', 'bad name!'], NAME_RULE],
    ['a non-ASCII scope', ['--principal', 'alice', '--scope', 'ordérs:read'], /each scope is 1-128 printable ASCII/],
    ['a scope of 129 characters', ['--principal', 'alice', '--scope', 's'.repeat(129)], /each scope is 1-128/],
    [
      'a label of 201 characters',
      ['--principal', 'alice', '--label', 'l'.repeat(201)],
      /label must be a string of at most 200/,
    ],
  ])('keys create with %s: exit 2 before the store is opened', async (_what, args, pattern) => {
    const cwd = tempDir();
    // No database yet: the usage error is named, not the missing database.
    expectUsageError(await runCliInProcess(['--db', 'keys.db', 'keys', 'create', ...args], { cwd }), pattern);
    expect(contents(cwd)).toEqual([]);
  });

  it('keys import with a malformed principal or label: exit 2, nothing read or created', async () => {
    const cwd = tempDir();
    const base = ['--db', 'keys.db', 'keys', 'import', '--key-id', 'legacy-1', '--secret-stdin'];
    expectUsageError(await runCliInProcess([...base, '--principal', 'bad name!'], { cwd, input: 'secret' }), NAME_RULE);
    expectUsageError(
      await runCliInProcess([...base, '--principal', 'alice', '--label', 'l'.repeat(201)], { cwd, input: 'secret' }),
      /label must be a string of at most 200/,
    );
    expect(contents(cwd)).toEqual([]);
  });

  it('on an existing store, changes nothing: rotate --label, revoke --reason, set-password, disable/enable', async () => {
    const cwd = tempDir();
    expect((await runCliInProcess(['--db', 'keys.db', 'principals', 'add', 'alice'], { cwd })).code).toBe(0);
    const created = await runCliInProcess(['--db', 'keys.db', '--json', 'keys', 'create', '--principal', 'alice'], {
      cwd,
    });
    expect(created.code, created.stderr).toBe(0);
    const { keyId } = JSON.parse(created.stdout) as { keyId: string };
    const audit = async () =>
      (await runCliInProcess(['--db', 'keys.db', '--json', 'audit', '--principal', 'alice'], { cwd })).stdout;
    const before = await audit();

    expectUsageError(
      await runCliInProcess(['--db', 'keys.db', 'keys', 'rotate', keyId, '--label', 'l'.repeat(201)], { cwd }),
      /label must be a string of at most 200/,
    );
    expectUsageError(
      await runCliInProcess(['--db', 'keys.db', 'keys', 'revoke', keyId, '--reason', 'r'.repeat(501)], { cwd }),
      /reason must be a string of at most 500/,
    );
    expectUsageError(
      await runCliInProcess(['--db', 'keys.db', 'principals', 'set-password', 'alice', '--password-env', 'PW'], {
        cwd,
        env: { PW: 'x'.repeat(1025) },
      }),
      /password is too long/,
    );
    for (const command of ['disable', 'enable', 'set-password']) {
      const extra = command === 'set-password' ? ['--clear'] : [];
      expectUsageError(
        await runCliInProcess(['--db', 'keys.db', 'principals', command, 'bad name!', ...extra], { cwd }),
        NAME_RULE,
      );
    }
    expect(await audit()).toBe(before);
    const shown = await runCliInProcess(['--db', 'keys.db', '--json', 'keys', 'show', keyId], { cwd });
    expect(JSON.parse(shown.stdout)).toMatchObject({ status: 'active' });
  });
});

describe('durations past the ceiling (10 years) are usage errors', () => {
  it.each([['100000w'], ['3651d'], ['1000000000w'], ['9'.repeat(400)]])(
    'keys create --expires %s: exit 2, one line, nothing created',
    async (expires) => {
      const cwd = tempDir();
      expect((await runCliInProcess(['--db', 'keys.db', 'principals', 'add', 'alice'], { cwd })).code).toBe(0);
      const result = await runCliInProcess(
        ['--db', 'keys.db', 'keys', 'create', '--principal', 'alice', '--expires', expires],
        {
          cwd,
        },
      );
      expectUsageError(result, /invalid duration ".*": at most 3650d \(10 years\)/);
      const list = await runCliInProcess(['--db', 'keys.db', '--json', 'keys', 'list', '--all'], { cwd });
      expect(JSON.parse(list.stdout)).toEqual([]);
    },
  );

  it('keys create --expires 3650d works, keys rotate --overlap 100000w is refused', async () => {
    const cwd = tempDir();
    expect((await runCliInProcess(['--db', 'keys.db', 'principals', 'add', 'alice'], { cwd })).code).toBe(0);
    const created = await runCliInProcess(
      ['--db', 'keys.db', '--json', 'keys', 'create', '--principal', 'alice', '--expires', '3650d'],
      { cwd },
    );
    expect(created.code, created.stderr).toBe(0);
    const { keyId, expiresAt } = JSON.parse(created.stdout) as { keyId: string; expiresAt: string };
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now() + 3649 * 86_400_000);
    expectUsageError(
      await runCliInProcess(['--db', 'keys.db', 'keys', 'rotate', keyId, '--overlap', '100000w'], { cwd }),
      /invalid duration "100000w": at most 3650d \(10 years\)/,
    );
    const list = await runCliInProcess(['--db', 'keys.db', '--json', 'keys', 'list', '--all'], { cwd });
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(1);
  });
});
