// "The CLI does not surprise" (issue 14). What a command does runs in-process (runCliInProcess, with
// the command's folder as io.cwd); a real `hmac-kit` process runs for serve, the bin (--version), the
// process's own folder, the exit status of a refusal, and the completion script bash loads.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, refusedPort } from '../../../test-support/ports.js';
import { createTestSchema, type TestSchema } from '../../../test-support/postgres.js';
import {
  binPath,
  buildOnce,
  cleanEnv,
  collectOutput,
  runCli,
  runCliInProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';
import { pgUrl } from '../../../test-support/services.js';

/** Every failure is exactly one line `hmac-kit: ...` on stderr. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^hmac-kit: /);
  expect(lines[0]).toMatch(pattern);
}

/** Everything under `dir`, relative (to show that a failed command left nothing behind). */
function contents(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((entry) => !entry.startsWith('.git'))
    .sort();
}

/** A project folder (it has .git, like a clone) with a subfolder. */
function project(): { root: string; sub: string } {
  const root = tempDir('hmac-kit-project-');
  mkdirSync(join(root, '.git'));
  const sub = join(root, 'src', 'lib');
  mkdirSync(sub, { recursive: true });
  return { root, sub };
}

// Each test spawns several real processes; on a loaded 2-core machine that takes a while.
vi.setConfig({ testTimeout: 180_000 });

// The build waits for other suites' builds (a file lock) on a loaded machine.
beforeAll(() => {
  buildOnce();
}, 300_000);

describe('--db is checked before anything is created', () => {
  for (const db of ['mysql://app@db/app', 'postgress://app@db/app', 'sqlite://x.db']) {
    it(`refuses ${db} as an unknown URL scheme, creating nothing`, async () => {
      const cwd = tempDir();
      for (const command of [
        ['principals', 'add', 'alice'],
        ['principals', 'list'],
      ]) {
        const result = await runCliInProcess(['--db', db, ...command], { cwd });
        expect(result.code).toBe(2);
        expectOneLine(result.stderr, /unknown database URL scheme "\w+:": use postgres:\/\//);
      }
      expect(contents(cwd)).toEqual([]);
    });
  }

  it('refuses a SQLite file in a folder that does not exist, and does not create the folder', async () => {
    const cwd = tempDir();
    for (const db of ['/nonexistent/dir/x.db', join(cwd, 'missing', 'deeper', 'x.db'), 'relative/x.db']) {
      const result = await runCliInProcess(['--db', db, 'principals', 'add', 'alice'], { cwd });
      expect(result.code).toBe(2);
      expectOneLine(result.stderr, /database folder .* does not exist: create it first/);
    }
    expect(existsSync('/nonexistent')).toBe(false);
    expect(contents(cwd)).toEqual([]);
    // The same for serve: it never starts on a mistyped path.
    const serve = await runCli(['--db', join(cwd, 'missing', 'x.db'), 'serve', '--port', '0'], {
      cwd,
      env: { HMAC_KIT_WORKERS: '1' },
    });
    expect(serve.code).toBe(2);
    expectOneLine(serve.stderr, /database folder .* does not exist/);
    expect(contents(cwd)).toEqual([]);
  });
});

describe('default locations are the same from every folder of a project', () => {
  it('finds the project .hmac-kit/ from a subfolder instead of creating a new database there', async () => {
    const { root, sub } = project();
    const added = await runCliInProcess(['principals', 'add', 'alice'], { cwd: root });
    expect(added.code, added.stderr).toBe(0);
    // Commands that create a store say which files they created.
    expect(added.stderr).toContain(`created database ${join(root, '.hmac-kit', 'hmac-kit.db')}`);
    expect(added.stderr).toContain(
      `created master key file ${join(root, '.hmac-kit', 'hmac-kit.db.master-keys.json')}`,
    );
    const listed = await runCliInProcess(['--json', 'principals', 'list'], { cwd: sub });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe('');
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((row) => row.name)).toEqual(['alice']);
    const created = await runCliInProcess(['--json', 'keys', 'create', '--principal', 'alice'], { cwd: sub });
    expect(created.code, created.stderr).toBe(0);
    expect(contents(join(root, 'src'))).toEqual(['lib']);
  });

  it('a first command from a subfolder creates the store at the project root and says so', async () => {
    const { root, sub } = project();
    // A real process: the folder is the process's own (no io.cwd).
    const added = await runCli(['principals', 'add', 'bob'], { cwd: sub });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toContain(`created database ${join(root, '.hmac-kit', 'hmac-kit.db')}`);
    expect(contents(join(root, 'src'))).toEqual(['lib']);
  });

  it('a command that only reads refuses (one line, nothing created) where there is no database', async () => {
    const cwd = tempDir();
    for (const command of [['principals', 'list'], ['keys', 'list'], ['keys', 'show', 'hk_nothing'], ['audit']]) {
      const result = await runCliInProcess(command, { cwd });
      expect(result.code).toBe(2);
      expectOneLine(
        result.stderr,
        /no database at .*hmac-kit\.db: hmac-kit serve or hmac-kit principals add creates one/,
      );
    }
    expect(contents(cwd)).toEqual([]);
  });
});

describe('a failed command has no side effects on PostgreSQL', () => {
  let schema: TestSchema | undefined;
  let url = '';
  let reachable = true;
  beforeAll(async () => {
    try {
      schema = await createTestSchema();
    } catch (error) {
      reachable = false;
      if (process.env.CI === 'true') throw error;
      console.warn(`[hmac-kit] SKIPPING PostgreSQL side-effect checks: ${(error as Error).message}`);
      return;
    }
    const withSchema = new URL(pgUrl);
    withSchema.searchParams.set('options', `-c search_path=${schema.schema}`);
    url = withSchema.toString();
  });
  afterAll(async () => {
    await schema?.drop();
  });

  async function checkRows(): Promise<string[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const rows = await client.query<{ id: string }>('select master_key_id as id from hk_master_key_check order by 1');
      return rows.rows.map((row) => row.id);
    } finally {
      await client.end();
    }
  }

  it('from another folder: refuses without creating a master key file or registering it', async (context) => {
    if (!reachable) context.skip();
    const server = tempDir('hmac-kit-pg-server-');
    const added = await runCliInProcess(['--db', url, 'principals', 'add', 'alice'], { cwd: server });
    expect(added.code, added.stderr).toBe(0);
    const key = await runCliInProcess(['--db', url, '--json', 'keys', 'create', '--principal', 'alice'], {
      cwd: server,
    });
    expect(key.code, key.stderr).toBe(0);
    expect(existsSync(join(server, '.hmac-kit', 'master-keys.json'))).toBe(true);
    const before = await checkRows();
    expect(before).toHaveLength(1);

    const elsewhere = tempDir('hmac-kit-pg-elsewhere-');
    const list = await runCliInProcess(['--db', url, 'principals', 'list'], { cwd: elsewhere });
    expect(list.code).toBe(2);
    expectOneLine(
      list.stderr,
      /no master key file at .*master-keys\.json: give --master-key-file or HMAC_KIT_MASTER_KEYS/,
    );
    const add = await runCliInProcess(['--db', url, 'principals', 'add', 'carol'], { cwd: elsewhere });
    expect(add.code).toBe(2);
    expectOneLine(add.stderr, /the database's secrets are encrypted under master key mk-/);
    expect(contents(elsewhere)).toEqual([]);
    expect(await checkRows()).toEqual(before);

    // The right key file works from anywhere.
    const withFile = await runCliInProcess(
      ['--db', url, '--master-key-file', join(server, '.hmac-kit', 'master-keys.json'), '--json', 'principals', 'list'],
      { cwd: elsewhere },
    );
    expect(withFile.code, withFile.stderr).toBe(0);
    expect(JSON.parse(withFile.stdout)).toHaveLength(1);
  });

  it('a wrong master key file is refused before its check row is written', async (context) => {
    if (!reachable) context.skip();
    const other = tempDir('hmac-kit-pg-other-');
    const before = await checkRows();
    // A key file made for another database (a fresh SQLite store) holds a different master key.
    const made = await runCliInProcess(['--db', join(other, 'other.db'), 'principals', 'add', 'x'], { cwd: other });
    expect(made.code, made.stderr).toBe(0);
    // The exit status of a refusal as the OS sees it: a real process.
    const wrong = await runCli(
      ['--db', url, '--master-key-file', join(other, 'other.db.master-keys.json'), 'principals', 'list'],
      { cwd: other },
    );
    expect(wrong.code).toBe(1);
    expectOneLine(wrong.stderr, /wrong master key: .* encrypted under master key/);
    expect(await checkRows()).toEqual(before);
  });

  it('names host and port and translates 3D000 and a refused connection', async (context) => {
    if (!reachable) context.skip();
    const missing = new URL(pgUrl);
    missing.pathname = '/hmac_kit_no_such_database';
    const result = await runCliInProcess(['--db', missing.toString(), 'principals', 'list'], { cwd: tempDir() });
    expect(result.code).toBe(1);
    const host = `${missing.hostname}:${missing.port || '5432'}`;
    expectOneLine(
      result.stderr,
      new RegExp(
        `database postgres://\\S*${host.replace(/\./g, '\\.')}/hmac_kit_no_such_database: database does not exist \\(3D000\\)`,
      ),
    );
    const serve = await runCli(['--db', missing.toString(), 'serve', '--port', '0'], {
      cwd: tempDir(),
      env: { HMAC_KIT_WORKERS: '1' },
    });
    expect(serve.code).toBe(1);
    expect(serve.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^hmac-kit: cannot start: database postgres:\/\/\S+\/hmac_kit_no_such_database: database does not exist \(3D000\)$/,
    );
    const port = await refusedPort();
    const refused = await runCliInProcess(
      ['--db', `postgres://postgres@127.0.0.1:${port}/test`, 'principals', 'list'],
      {
        cwd: tempDir(),
      },
    );
    expect(refused.code).toBe(1);
    expectOneLine(refused.stderr, new RegExp(`127\\.0\\.0\\.1:${port}/test: connection refused`));
  });
});

describe('commands', () => {
  let dir: string;
  let db: string;
  const cli = (args: string[]) => runCliInProcess(['--db', db, ...args], { cwd: dir });
  beforeAll(async () => {
    dir = tempDir();
    db = join(dir, 'keys.db');
    expect((await cli(['principals', 'add', 'alice'])).code).toBe(0);
  });

  it('--version prints the package version', async () => {
    const version = (JSON.parse(readFileSync(join(binPath, '../../package.json'), 'utf8')) as { version: string })
      .version;
    // The bin (reading dist's package.json) as a process; the short flag in-process.
    for (const [flag, run] of [
      ['--version', runCli],
      ['-V', runCliInProcess],
    ] as const) {
      const result = await run([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${version}\n`);
    }
  });

  it('one wording for an unknown key in show, revoke and rotate', async () => {
    for (const command of [
      ['keys', 'show'],
      ['keys', 'revoke'],
      ['keys', 'rotate'],
    ]) {
      const result = await cli([...command, 'hk_doesNotExist1234567']);
      expect(result.code).toBe(1);
      expectOneLine(result.stderr, /^hmac-kit: key hk_doesNotExist1234567 does not exist$/);
    }
  });

  it('revoking a revoked key says so and changes nothing', async () => {
    const created = JSON.parse((await cli(['--json', 'keys', 'create', '--principal', 'alice'])).stdout) as {
      keyId: string;
    };
    const first = await cli(['keys', 'revoke', created.keyId]);
    expect(first.stdout).toBe(`Key ${created.keyId} revoked.\n`);
    const again = await cli(['keys', 'revoke', created.keyId, '--reason', 'again']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^Key ${created.keyId} was already revoked \\(at \\S+Z\\); nothing changed\\.\\n$`),
    );
    const json = JSON.parse((await cli(['--json', 'keys', 'revoke', created.keyId])).stdout) as {
      alreadyRevoked: boolean;
    };
    expect(json.alreadyRevoked).toBe(true);
    const audit = JSON.parse((await cli(['--json', 'audit', '--key-id', created.keyId])).stdout) as Array<{
      type: string;
    }>;
    expect(audit.filter((entry) => entry.type === 'key.revoked')).toHaveLength(1);
  });

  it("refuses --scope 'a b' instead of splitting it, and creates no key", async () => {
    const before = JSON.parse((await cli(['--json', 'keys', 'list'])).stdout) as unknown[];
    const result = await cli(['keys', 'create', '--principal', 'alice', '--scope', 'orders:read orders:write']);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /invalid scope "orders:read orders:write": a scope has no spaces/);
    expect(JSON.parse((await cli(['--json', 'keys', 'list'])).stdout)).toEqual(before);
    const ok = await cli(['--json', 'keys', 'create', '--principal', 'alice', '--scope', 'a,b', '--scope', 'c']);
    expect((JSON.parse(ok.stdout) as { scopes: string[] }).scopes).toEqual(['a', 'b', 'c']);
  });

  it('request: a server it cannot reach is named, with the reason in words (not a bare ECONNREFUSED)', async () => {
    const env = { HK_SECRET: `hks_${Buffer.alloc(32, 1).toString('base64url')}` };
    const request = (url: string) =>
      runCliInProcess(['request', 'GET', url, '--key-id', 'hk_x', '--secret-env', 'HK_SECRET'], { cwd: dir, env });
    const port = await refusedPort();
    const refused = await request(`http://127.0.0.1:${port}/v1/whoami`);
    expect(refused.code).toBe(1);
    expectOneLine(
      refused.stderr,
      new RegExp(
        `^hmac-kit: cannot connect to 127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED; is the server running, on that port\\?\\)$`,
      ),
    );
    // fetch() never connects to the ports the Fetch standard blocks (10080, 6000, 6665-6669...).
    const blocked = await request('http://127.0.0.1:10080/v1/whoami');
    expect(blocked.code).toBe(1);
    expectOneLine(
      blocked.stderr,
      /^hmac-kit: cannot connect to 127\.0\.0\.1:10080: port 10080 is one fetch\(\) refuses/,
    );
  });

  it('request: a malformed secret is refused naming where it came from; a key id pasted as the secret is called that', async () => {
    const request = (env: Record<string, string>, source: string[]) =>
      runCliInProcess(['request', 'GET', 'http://127.0.0.1:9/x', '--key-id', 'hk_x', ...source], { cwd: dir, env });
    const keyId = await request({ HK_SECRET: 'hk_6Pnwq5ISWF1lkrqR0t4Fl8' }, ['--secret-env', 'HK_SECRET']);
    expect(keyId.code).toBe(2);
    expectOneLine(keyId.stderr, /^hmac-kit: HK_SECRET holds a key id \(hk_\.\.\.\), not a secret: .*hks_/);
    const short = await request({ HK_SECRET: 'hks_xx' }, ['--secret-env', 'HK_SECRET']);
    expect(short.code).toBe(2);
    expectOneLine(short.stderr, /^hmac-kit: the secret in HK_SECRET: secret must encode at least 32 bytes$/);
    const plain = await request({ HK_SECRET: 'plain' }, ['--secret-env', 'HK_SECRET']);
    expectOneLine(plain.stderr, /^hmac-kit: the secret in HK_SECRET: secret must start with "hks_"/);
    const empty = await request({ HK_SECRET: '' }, ['--secret-env', 'HK_SECRET']);
    expectOneLine(empty.stderr, /^hmac-kit: environment variable HK_SECRET is not set \(or empty\)$/);
  });

  it('request/sign: -H Host (which fetch() drops while -v showed it) and the framing headers fetch() sets are refused', async () => {
    const env = { HK_SECRET: `hks_${Buffer.alloc(32, 1).toString('base64url')}` };
    const run = (command: string, header: string) =>
      runCliInProcess(
        [
          command,
          'POST',
          'http://127.0.0.1:9/x',
          '--data',
          'hello',
          '-H',
          header,
          '--key-id',
          'hk_x',
          '--secret-env',
          'HK_SECRET',
        ],
        { cwd: dir, env },
      );
    for (const command of ['request', 'sign']) {
      // The URL's own authority is no contradiction: left alone.
      expect((await run(command, 'Host: 127.0.0.1:9')).stderr).not.toMatch(/-H Host/);
      const host = await run(command, 'Host: api.example.com');
      expect(host.code, command).toBe(2);
      expect(host.stdout).toBe('');
      expectOneLine(
        host.stderr,
        /^hmac-kit: -H Host: .*put the host clients sign for in the URL \(http:\/\/api\.example\.com\/x\)/,
      );
    }
    for (const header of [
      'Transfer-Encoding: chunked',
      'Content-Length: 3',
      'Keep-Alive: timeout=5',
      'Expect: 100-continue',
    ]) {
      const framing = await run('request', header);
      expect(framing.code, header).toBe(2);
      expectOneLine(framing.stderr, /^hmac-kit: -H [A-Za-z-]+: fetch\(\) sets this header itself/);
    }
  });

  it('audit --type with a misspelt event type is refused (as the admin API does), not an empty trail', async () => {
    const revoked = await cli(['audit', '--type', 'key.created,key.revokd']);
    expect(revoked.code).toBe(2);
    expect(revoked.stdout).toBe('');
    expectOneLine(
      revoked.stderr,
      /^hmac-kit: unknown event type "key\.revokd": use one of principal\.created, .*key\.revoked/,
    );
    const known = await cli(['--json', 'audit', '--type', 'key.revoked', '--type', 'principal.created']);
    expect(known.code, known.stderr).toBe(0);
    expect(JSON.parse(known.stdout)).toEqual(expect.any(Array));
  });

  it('--json turns every error into one JSON object on stderr', async () => {
    const cases: Array<[string[], string, number]> = [
      [['--json', 'frobnicate'], 'ERR_USAGE', 2],
      [['--json', 'keys', 'show', 'hk_doesNotExist1234567'], 'ERR_KEY_NOT_FOUND', 1],
      [['--json', 'keys', 'create', '--principal', 'alice', '--scope', 'a b'], 'ERR_USAGE', 2],
      [['--json', 'keys', 'create', '--principal', 'nobody'], 'ERR_PRINCIPAL_NOT_FOUND', 1],
      [['--json', 'keys', 'create', '--principal', 'alice', '--bogus'], 'ERR_USAGE', 2],
    ];
    for (const [args, code, exitCode] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(exitCode);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, result.stderr).toHaveLength(1);
      const parsed = JSON.parse(lines[0]!) as { error: { code: string; message: string; exitCode: number } };
      expect(parsed.error).toMatchObject({ code, exitCode });
      expect(parsed.error.message.length).toBeGreaterThan(5);
    }
    const mistyped = await runCliInProcess(['--json', '--db', 'mysql://x/y', 'principals', 'list'], {
      cwd: tempDir(),
    });
    expect(JSON.parse(mistyped.stderr)).toMatchObject({ error: { code: 'ERR_USAGE', exitCode: 2 } });
  });
});

describe('hmac-kit completion', () => {
  /** The script as `source <(hmac-kit completion bash)` loads it: printed by a real process, once. */
  let bashScript: Promise<string> | undefined;
  /** What bash offers after typing `words` (the last one is being completed). */
  async function bashComplete(words: string[]): Promise<string[]> {
    bashScript ??= runCli(['completion', 'bash']).then((result) => result.stdout);
    const script = await bashScript;
    const program = `${script}\nCOMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hmac_kit_completion; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const child = spawn('bash', ['-c', program], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    await new Promise((resolve) => child.once('close', resolve));
    return stdout.split('\n').filter(Boolean).sort();
  }

  it('bash completes commands, subcommands and options, skipping option values', async () => {
    expect(await bashComplete(['hmac-kit', 'pr'])).toEqual(['principals']);
    expect(await bashComplete(['hmac-kit', 'keys', 're'])).toEqual(['revoke']);
    expect(await bashComplete(['hmac-kit', '--db', 'x.db', 'keys', 'cr'])).toEqual(['create']);
    expect(await bashComplete(['hmac-kit', 'keys', 'create', '--sc'])).toEqual(['--scope']);
    expect(await bashComplete(['hmac-kit', 'serve', '--ups'])).toEqual([
      '--upstream',
      '--upstream-allow-get-body',
      '--upstream-client',
      '--upstream-timeout',
    ]);
  });

  it('zsh and fish scripts are printed; an unknown shell is refused', async () => {
    const zsh = await runCliInProcess(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(zsh.stdout).toContain('complete -o default -F _hmac_kit_completion hmac-kit');
    const fish = await runCliInProcess(['completion', 'fish']);
    expect(fish.code).toBe(0);
    expect(fish.stdout).toMatch(
      /\ncomplete -c hmac-kit -n '__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from create [a-z ]*revoke[a-z ]*' -a 'revoke'/,
    );
    const bad = await runCliInProcess(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
    expectOneLine(bad.stderr, /unknown shell "tcsh": use bash, zsh or fish/);
  });
});

describe('serve: start-up hints', () => {
  let blocker: Server | undefined;
  afterAll(async () => {
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
  });

  it('a port in use is one line naming the port and --port (one process and with workers)', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    for (const workers of ['1', '2']) {
      const cwd = tempDir();
      const result = await runCli(['serve', '--port', String(port)], { cwd, env: { HMAC_KIT_WORKERS: workers } });
      expect(result.code).toBe(1);
      expectOneLine(
        result.stderr,
        new RegExp(`cannot start: port ${port} on 127\\.0\\.0\\.1 is already in use .*choose another port with --port`),
      );
      // Refused before the store is opened: no new database or master key is left behind.
      expect(contents(cwd)).toEqual([]);
    }
  });

  it('workers on a fixed port: a worker that starts after the first is listening starts too (no "port in use")', async () => {
    // npm start's case (a fixed port, one worker per core): the supervisor holds the port once the
    // first worker listens, so a later worker must not probe it again. late-worker.mjs holds the
    // second worker back until then.
    const port = await freePort();
    const cwd = tempDir();
    const server = await startServe(['--port', String(port)], {
      cwd,
      env: {
        HMAC_KIT_WORKERS: '2',
        HMAC_KIT_TEST_LATE_WORKER_PORT: String(port),
        NODE_OPTIONS: `--import=${join(import.meta.dirname, 'support', 'late-worker.mjs')}`,
      },
      timeoutMs: 60_000,
    });
    try {
      await waitFor(() => server.stderr().includes('first key:'), 'the banner');
      expect(server.stderr()).not.toContain('cannot start');
      expect(server.stderr()).toMatch(/workers: +2 processes/);
    } finally {
      await server.stop();
    }
  });

  it('gateway mode: the banner commands, run as printed from another folder, make a key that works', async () => {
    const cwd = tempDir();
    const server = await startServe(['--upstream', 'http://127.0.0.1:9'], { cwd });
    try {
      await waitFor(() => server.stderr().includes('first key:'));
      const banner = server.stderr();
      expect(banner).not.toMatch(/v1\/whoami/);
      const hint = banner.slice(banner.indexOf('first key:')).split('\n').slice(1, 4);
      const [addPrincipal, createKey, request] = hint.map((line) => line.trim());
      expect(request).toContain(`${server.url}/_hmac-kit/v1/admin/principals`);
      const elsewhere = tempDir();
      expect((await shell(addPrincipal!, elsewhere)).code).toBe(0);
      const created = await shell(createKey!, elsewhere);
      expect(created.code, created.stderr).toBe(0);
      const keyId = /key id:\s+(\S+)/.exec(created.stdout)![1]!;
      const secret = /secret:\s+(\S+)/.exec(created.stdout)![1]!;
      const asked = await shell(
        `${request!.replace('HMAC_KIT_SECRET=<secret> ', '').replace('<keyId>', keyId)} -i`,
        elsewhere,
        { HMAC_KIT_SECRET: secret },
      );
      expect(asked.code, asked.stderr).toBe(0);
      expect(asked.stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(asked.stdout).toContain('"alice"');
      expect(contents(elsewhere)).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('PostgreSQL: the first-key hint has --db (and the key file), and works from another folder', async () => {
    let schema: TestSchema;
    try {
      schema = await createTestSchema();
    } catch (error) {
      if (process.env.CI === 'true') throw error;
      console.warn(`[hmac-kit] SKIPPING PostgreSQL banner check: ${(error as Error).message}`);
      return;
    }
    const url = new URL(pgUrl);
    url.searchParams.set('options', `-c search_path=${schema.schema}`);
    const cwd = tempDir();
    const server = await startServe([], { cwd, globalArgs: ['--db', url.toString()] });
    try {
      await waitFor(() => server.stderr().includes('first key:'));
      const banner = server.stderr();
      const hint = banner.slice(banner.indexOf('first key:')).split('\n').slice(1, 3);
      for (const line of hint) {
        expect(line).toContain('--db ');
        expect(line).toContain(`--master-key-file ${join(cwd, '.hmac-kit', 'master-keys.json')}`);
      }
      const elsewhere = tempDir();
      expect((await shell(hint[0]!.trim(), elsewhere)).code).toBe(0);
      const created = await shell(hint[1]!.trim(), elsewhere);
      expect(created.code, created.stderr).toBe(0);
      expect(contents(elsewhere)).toEqual([]);
    } finally {
      await server.stop();
      await schema.drop();
    }
  });

  it('names the command the way it was run: npx hmac-kit in a project, hmac-kit on PATH', async () => {
    const app = tempDir('hmac-kit-app-');
    mkdirSync(join(app, 'node_modules', '.bin'), { recursive: true });
    const link = join(app, 'node_modules', '.bin', 'hmac-kit');
    symlinkSync(binPath, link);
    const inProject = await startServe([], { cwd: app, bin: link });
    try {
      await waitFor(() => inProject.stderr().includes('first key:'));
      expect(inProject.stderr()).toMatch(/\n {4}npx hmac-kit --db \S+ principals add alice\n/);
      expect(inProject.stderr()).not.toContain('packages/cli/bin');
    } finally {
      await inProject.stop();
    }
    const global = tempDir('hmac-kit-global-');
    const globalBin = join(global, 'bin');
    mkdirSync(globalBin);
    symlinkSync(binPath, join(globalBin, 'hmac-kit'));
    const cwd = tempDir();
    const onPath = await startServe([], {
      cwd,
      bin: join(globalBin, 'hmac-kit'),
      env: { PATH: `${globalBin}:${process.env.PATH}`, npm_lifecycle_event: undefined },
    });
    try {
      await waitFor(() => onPath.stderr().includes('first key:'));
      expect(onPath.stderr()).toMatch(/\n {4}hmac-kit --db \S+ principals add alice\n/);
    } finally {
      await onPath.stop();
    }
  });
});

/** Polls `condition` until it holds (the banner is written right after the listening log line). */
async function waitFor(condition: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs one command line in bash, the way a user pastes it. */
function shell(
  line: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn('bash', ['-c', line], {
    cwd,
    env: cleanEnv({ ...env, npm_lifecycle_event: undefined }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collectOutput(child);
}
