/**
 * `main(argv, io)` run inside another program: everything a command takes from its process comes
 * from `io` (its folder included), and nothing stays open once it returns.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Io, main } from 'hmac-kit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../test-support/postgres.js';
import { runCliInProcess, tempDir } from '../../../test-support/processes.js';
import { describeWithPostgres, pgUrl } from '../../../test-support/services.js';

/** An Io writing into strings, in `cwd`. */
function capture(cwd: string | undefined, extra: Partial<Io> = {}) {
  const output = { stdout: '', stderr: '' };
  const io: Io = {
    stdout: (text) => {
      output.stdout += text;
    },
    stderr: (text) => {
      output.stderr += text;
    },
    env: { PASSWORD: 'a long enough password' },
    readStdin: async () => new Uint8Array(),
    ...(cwd === undefined ? {} : { cwd }),
    ...extra,
  };
  return { io, output };
}

describe('Io.cwd', () => {
  it('relative --db, --password-file and the default .hmac-kit/ are found from io.cwd, not the process folder', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'store'));
    writeFileSync(join(cwd, 'password.txt'), 'a long enough password\n');
    const relative = capture(cwd);
    const added = await main(
      ['node', 'hmac-kit', '--db', 'store/keys.db', 'principals', 'add', 'alice', '--password-file', 'password.txt'],
      relative.io,
    );
    expect(added, relative.output.stderr).toBe(0);
    expect(existsSync(join(cwd, 'store', 'keys.db'))).toBe(true);
    expect(existsSync(join(process.cwd(), 'store', 'keys.db'))).toBe(false);

    // A project (it has .git): the default database is its .hmac-kit/, from a subfolder too.
    mkdirSync(join(cwd, '.git'));
    mkdirSync(join(cwd, 'src'));
    const fromSub = capture(join(cwd, 'src'));
    expect(await main(['node', 'hmac-kit', 'principals', 'add', 'bob'], fromSub.io), fromSub.output.stderr).toBe(0);
    expect(fromSub.output.stderr).toContain(`created database ${join(cwd, '.hmac-kit', 'hmac-kit.db')}`);
    const listed = capture(cwd);
    expect(await main(['node', 'hmac-kit', '--json', 'principals', 'list'], listed.io)).toBe(0);
    expect(JSON.parse(listed.output.stdout)).toMatchObject([{ name: 'bob' }]);
  });

  it('a file that does not exist is named as typed, and looked for in io.cwd', async () => {
    const cwd = tempDir();
    const { io, output } = capture(cwd);
    const code = await main(
      ['node', 'hmac-kit', 'sign', 'GET', 'http://127.0.0.1:1/x', '--key-id', 'hk_x', '--secret-file', 'secret.txt'],
      io,
    );
    expect(code).toBe(2);
    expect(output.stderr).toBe('hmac-kit: cannot read secret file secret.txt: ENOENT\n');
    writeFileSync(join(cwd, 'secret.txt'), `hks_${Buffer.alloc(32, 1).toString('base64url')}\n`);
    const signed = capture(cwd);
    expect(
      await main(
        ['node', 'hmac-kit', 'sign', 'GET', 'http://127.0.0.1:1/x', '--key-id', 'hk_x', '--secret-file', 'secret.txt'],
        signed.io,
      ),
      signed.output.stderr,
    ).toBe(0);
    expect(signed.output.stdout).toMatch(/^signature-input: /im);
  });
});

describe('Io.helpWidth', () => {
  it('help is wrapped to io.helpWidth, else to 80 columns whatever the process stdout is', async () => {
    const narrow = capture(undefined);
    expect(await main(['node', 'hmac-kit', 'serve', '--help'], narrow.io)).toBe(0);
    const wide = capture(undefined, { helpWidth: 200 });
    expect(await main(['node', 'hmac-kit', 'serve', '--help'], wide.io)).toBe(0);
    const longest = (text: string) => Math.max(...text.split('\n').map((line) => line.length));
    // Commander wraps descriptions, not flags: a line may pass the width, but fewer lines are wrapped when wide.
    expect(longest(wide.output.stdout)).toBeGreaterThan(longest(narrow.output.stdout));
    expect(wide.output.stdout.split('\n').length).toBeLessThan(narrow.output.stdout.split('\n').length);
    expect(narrow.output.stderr + wide.output.stderr).toBe('');
  });
});

describeWithPostgres('in-process store commands on PostgreSQL', () => {
  let schema: TestSchema | undefined;
  beforeAll(async () => {
    schema = await createTestSchema();
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it('close their connection pool before main() returns', async () => {
    const withSchema = new URL(pgUrl);
    withSchema.searchParams.set('options', `-c search_path=${schema!.schema}`);
    const url = withSchema.toString();
    const cwd = tempDir();
    const sockets = () => process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
    const before = sockets();
    const added = await runCliInProcess(['--db', url, 'principals', 'add', 'alice'], { cwd });
    expect(added.code, added.stderr).toBe(0);
    const created = await runCliInProcess(['--db', url, '--json', 'keys', 'create', '--principal', 'alice'], { cwd });
    expect(created.code, created.stderr).toBe(0);
    // The sockets close a moment after pool.end() resolves. A pool left open would hold its idle
    // connections for its idle timeout (30 s), so the wait is bounded well below that.
    await vi.waitFor(() => expect(sockets()).toBe(before), { timeout: 5_000, interval: 20 });
  });
});
