import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildOnce,
  runCli,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';

// What a command does runs in-process (runCliInProcess); a real `hmac-kit` process runs where the
// process is the point (the bin, its exit status, stdin as a pipe, serve) and once per command family.

/** Every failure is exactly one line `hmac-kit: ...` on stderr. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^hmac-kit: /);
  expect(lines[0]).toMatch(pattern);
}

describe('hmac-kit CLI: store commands', () => {
  let dir: string;
  let db: string;
  const cli = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
    runCliInProcess(['--db', db, ...args], { cwd: dir, ...options });
  /** The same command as a real process. */
  const cliProcess = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
    runCli(['--db', db, ...args], { cwd: dir, ...options });

  beforeAll(() => {
    buildOnce();
    dir = tempDir();
    // hmac-kit never creates folders for --db: the test makes it, as a user would.
    mkdirSync(join(dir, 'store'));
    db = join(dir, 'store', 'keys.db');
  });

  it('prints help listing every command', async () => {
    const result = await runCliInProcess(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['serve', 'principals', 'keys', 'master-key', 'db', 'audit', 'request', 'sign']) {
      expect(result.stdout).toContain(command);
    }
  });

  it('rejects an unknown command with one line and exit code 2', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expectOneLineError(result.stderr, /unknown command/);
  });

  it('applies migrations with db migrate, then reports the schema up to date', async () => {
    const first = await cliProcess(['--json', 'db', 'migrate']);
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as { applied: string[] }).applied.length).toBeGreaterThan(0);
    const second = await cli(['db', 'migrate']);
    expect(second.stdout).toMatch(/up to date/);
  });

  it('adds, lists, disables and enables principals', async () => {
    expect((await cli(['principals', 'add', 'bob'])).code).toBe(0);
    const added = await cli(['--json', 'principals', 'add', 'carol', '--kind', 'user', '--password-env', 'PW'], {
      env: { PW: 'a long enough password' },
    });
    expect(JSON.parse(added.stdout)).toMatchObject({ name: 'carol', kind: 'user', hasPassword: true });
    const duplicate = await cli(['principals', 'add', 'bob']);
    expect(duplicate.code).toBe(1);
    expectOneLineError(duplicate.stderr, /bob/);

    const table = await cli(['principals', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+DISABLED/);
    expect(table.stdout).toMatch(/\nbob\s+service\s+no/);
    const list = JSON.parse((await cli(['--json', 'principals', 'list'])).stdout) as Array<{ name: string }>;
    expect(list.map((principal) => principal.name).sort()).toEqual(['bob', 'carol']);

    expect((await cli(['principals', 'disable', 'carol'])).code).toBe(0);
    const disabledKey = await cli(['keys', 'create', '--principal', 'carol']);
    expect(disabledKey.code).toBe(1);
    expectOneLineError(disabledKey.stderr, /carol/);
    expect((await cli(['principals', 'enable', 'carol'])).code).toBe(0);

    const noPassword = await cli(['principals', 'set-password', 'bob']);
    expect(noPassword.code).toBe(2);
    expectOneLineError(noPassword.stderr, /password/);
    const viaStdin = await cliProcess(['principals', 'set-password', 'bob', '--password-stdin'], {
      input: 'from stdin secret\n',
    });
    expect(viaStdin.code).toBe(0);
    const unknown = await cli(['principals', 'disable', 'nobody']);
    expect(unknown.code).toBe(1);
    expectOneLineError(unknown.stderr, /nobody/);
  });

  it('creates a key: --json prints exactly one JSON object with keyId and secret', async () => {
    const result = await cli([
      '--json',
      'keys',
      'create',
      '--principal',
      'bob',
      '--scope',
      'orders:read',
      '--scope',
      'orders:write',
      '--expires',
      '90d',
      '--algorithm',
      'sha512',
      '--label',
      'ci',
    ]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const key = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(key.keyId).toMatch(/^hk_/);
    expect(key.secret).toMatch(/^hks_/);
    expect(key).toMatchObject({
      principal: 'bob',
      algorithm: 'sha512',
      scopes: ['orders:read', 'orders:write'],
      label: 'ci',
    });
    const expires = Date.parse(key.expiresAt as string) - Date.now();
    expect(expires).toBeGreaterThan(89 * 86_400_000);
    expect(expires).toBeLessThanOrEqual(90 * 86_400_000);
  });

  it('creates a key with its own rate limit (--rate-limit requests/window)', async () => {
    const result = await cli(['--json', 'keys', 'create', '--principal', 'bob', '--rate-limit', '100/1m']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ rateLimit: { limit: 100, windowSeconds: 60 } });
  });

  it('creates a key without --json as a readable block that warns the secret is shown once', async () => {
    const result = await cli(['keys', 'create', '--principal', 'bob']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/key id:\s+hk_/);
    expect(result.stdout).toMatch(/secret:\s+hks_/);
    expect(result.stdout).toMatch(/will not be shown again/);
  });

  it('reports bad input and refusals as one line with a non-zero exit', async () => {
    const badDuration = await cli(['keys', 'create', '--principal', 'bob', '--expires', '9x']);
    expect(badDuration.code).toBe(2);
    expectOneLineError(badDuration.stderr, /invalid duration "9x"/);
    const badRateLimit = await cli(['keys', 'create', '--principal', 'bob', '--rate-limit', 'lots']);
    expect(badRateLimit.code).toBe(2);
    expectOneLineError(badRateLimit.stderr, /invalid rate limit "lots": use requests\/window, e\.g\. 100\/1m/);
    const badAlgorithm = await cli(['keys', 'create', '--principal', 'bob', '--algorithm', 'md5']);
    expect(badAlgorithm.code).toBe(2);
    expectOneLineError(badAlgorithm.stderr, /algorithm/);
    const unknownPrincipal = await cli(['keys', 'create', '--principal', 'nobody']);
    expect(unknownPrincipal.code).toBe(1);
    expectOneLineError(unknownPrincipal.stderr, /nobody/);
    const missingOption = await cli(['keys', 'create']);
    expect(missingOption.code).toBe(2);
    expectOneLineError(missingOption.stderr, /--principal/);
    const unknownKey = await cli(['keys', 'show', 'hk_doesnotexist']);
    expect(unknownKey.code).toBe(1);
    expectOneLineError(unknownKey.stderr, /hk_doesnotexist/);
  });

  it('refuses keys beyond the per-principal limit', async () => {
    await cli(['principals', 'add', 'dora']);
    const env = { HMAC_KIT_MAX_KEYS: '2' };
    expect((await cli(['keys', 'create', '--principal', 'dora'], { env })).code).toBe(0);
    expect((await cli(['keys', 'create', '--principal', 'dora'], { env })).code).toBe(0);
    const third = await cli(['keys', 'create', '--principal', 'dora'], { env });
    expect(third.code).toBe(1);
    expectOneLineError(third.stderr, /limit|maximum|at most/i);
  });

  it('lists, shows, rotates and revokes keys', async () => {
    const created = JSON.parse((await cli(['--json', 'keys', 'create', '--principal', 'bob'])).stdout) as {
      keyId: string;
    };
    const table = await cli(['keys', 'list', '--principal', 'bob']);
    expect(table.stdout.split('\n')[0]).toMatch(/^KEYID\s+PRINCIPAL\s+STATUS/);
    expect(table.stdout).toContain(created.keyId);
    expect(table.stdout).not.toMatch(/hks_/);
    const shown = JSON.parse((await cli(['--json', 'keys', 'show', created.keyId])).stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ keyId: created.keyId, status: 'active' });
    expect(shown.secret).toBeUndefined();

    const rotated = JSON.parse((await cli(['--json', 'keys', 'rotate', created.keyId, '--overlap', '1h'])).stdout) as {
      keyId: string;
      secret: string;
      previous: { keyId: string; expiresAt: string };
    };
    expect(rotated.secret).toMatch(/^hks_/);
    expect(rotated.previous.keyId).toBe(created.keyId);
    expect(Date.parse(rotated.previous.expiresAt)).toBeGreaterThan(Date.now());

    const revoked = await cli(['--json', 'keys', 'revoke', rotated.keyId, '--reason', 'test']);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ keyId: rotated.keyId, status: 'revoked' });
    const all = JSON.parse((await cli(['--json', 'keys', 'list', '--all'])).stdout) as Array<{ keyId: string }>;
    expect(all.some((key) => key.keyId === rotated.keyId)).toBe(true);
    const active = JSON.parse((await cli(['--json', 'keys', 'list'])).stdout) as Array<{ keyId: string }>;
    expect(active.some((key) => key.keyId === rotated.keyId)).toBe(false);
  });

  it('shows the audit trail without secrets', async () => {
    const created = JSON.parse((await cli(['--json', 'keys', 'create', '--principal', 'bob'])).stdout) as {
      keyId: string;
      secret: string;
    };
    const audit = await cli(['--json', 'audit', '--key-id', created.keyId]);
    const entries = JSON.parse(audit.stdout) as Array<{ type: string }>;
    expect(entries.map((entry) => entry.type)).toContain('key.created');
    expect(audit.stdout).not.toContain(created.secret);
    const table = await cli(['audit', '--limit', '5']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+AT\s+TYPE/);
    const bad = await cli(['audit', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expectOneLineError(bad.stderr, /invalid duration/);
  });

  it('rotates the master key, keeps keys usable, and fails clearly with a wrong master key', async () => {
    const keyFile = `${db}.master-keys.json`;
    const before = JSON.parse(readFileSync(keyFile, 'utf8')) as { keys: unknown[] };
    const rotated = await cli(['--json', 'master-key', 'rotate']);
    expect(rotated.code).toBe(0);
    const progress = JSON.parse(rotated.stdout) as { reencrypted: number; done: boolean; addedMasterKeyId: string };
    expect(progress.done).toBe(true);
    expect(progress.reencrypted).toBeGreaterThan(0);
    const after = JSON.parse(readFileSync(keyFile, 'utf8')) as { keys: Array<{ id: string }> };
    expect(after.keys).toHaveLength(before.keys.length + 1);
    expect(after.keys.at(-1)?.id).toBe(progress.addedMasterKeyId);
    expect((await cli(['keys', 'list'])).code).toBe(0);

    const wrongFile = join(dir, 'wrong-master-keys.json');
    writeFileSync(
      wrongFile,
      JSON.stringify({
        version: 1,
        keys: after.keys.map((entry) => ({ ...entry, key: Buffer.alloc(32, 7).toString('base64') })),
      }),
      { mode: 0o600 },
    );
    const wrong = await cli(['--master-key-file', wrongFile, 'keys', 'list']);
    expect(wrong.code).toBe(1);
    expectOneLineError(wrong.stderr, /master key/i);
  });
});

describe('hmac-kit CLI: request and sign against a running server', () => {
  let dir: string;
  let db: string;
  let server: ServeProcess;
  let key: { keyId: string; secret: string };

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'keys.db');
    await runCliInProcess(['--db', db, 'principals', 'add', 'cli-user'], { cwd: dir });
    key = JSON.parse(
      (
        await runCliInProcess(['--db', db, '--json', 'keys', 'create', '--principal', 'cli-user', '--scope', 'x'], {
          cwd: dir,
        })
      ).stdout,
    ) as { keyId: string; secret: string };
    server = await startServe(['--db', db, '--schemes', 'rfc9421,sigv4,x-api'], { cwd: dir });
  });

  afterAll(async () => {
    await server?.stop();
  });

  const withSecret = { env: { HK_SECRET: '' } };

  it('sends a signed GET and prints the response body', async () => {
    withSecret.env.HK_SECRET = key.secret;
    const result = await runCli(
      ['request', 'GET', `${server.url}/v1/whoami`, '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      principal: 'cli-user',
      keyId: key.keyId,
      scopes: ['x'],
      scheme: 'rfc9421',
    });
    expect(result.stderr).toBe('');
  });

  it('sends a body from --data, --data-file and --data-stdin (digest verified by the server)', async () => {
    withSecret.env.HK_SECRET = key.secret;
    const file = join(dir, 'body.json');
    writeFileSync(file, '{"from":"file"}');
    for (const [args, input, run] of [
      [['--data', '{"a":1}'], '', runCliInProcess],
      [['--data-file', file], '', runCliInProcess],
      // stdin as a pipe: a real process.
      [['--data-stdin'], '{"from":"stdin"}', runCli],
    ] as Array<[string[], string, typeof runCli]>) {
      const result = await run(
        [
          'request',
          'POST',
          `${server.url}/v1/whoami`,
          '-H',
          'content-type: application/json',
          ...args,
          '--key-id',
          key.keyId,
          '--secret-env',
          'HK_SECRET',
        ],
        { ...withSecret, input },
      );
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout).keyId).toBe(key.keyId);
    }
  });

  it('prints headers with -i and the signature base with -v', async () => {
    withSecret.env.HK_SECRET = key.secret;
    const include = await runCliInProcess(
      ['request', 'GET', `${server.url}/v1/whoami`, '-i', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    expect(include.stdout).toMatch(/^HTTP\/1\.1 200 OK\n/);
    expect(include.stdout.toLowerCase()).toContain('ratelimit-policy:');
    const verbose = await runCliInProcess(
      ['request', 'GET', `${server.url}/v1/whoami?q=1`, '-v', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toContain('"@method": GET');
    expect(verbose.stderr).toContain('"@query": ?q=1');
    expect(verbose.stderr).toContain('"@signature-params": ');
    expect(verbose.stderr).toMatch(/> signature-input: /);
  });

  it('signs with SigV4', async () => {
    withSecret.env.HK_SECRET = key.secret;
    const result = await runCliInProcess(
      [
        'request',
        'GET',
        `${server.url}/v1/whoami`,
        '--scheme',
        'sigv4',
        '--key-id',
        key.keyId,
        '--secret-env',
        'HK_SECRET',
      ],
      withSecret,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).scheme).toBe('sigv4');
  });

  it('warns that --master-keys is visible in the process list, and refuses a malformed one in one line', async () => {
    const result = await runCli(['--db', join(dir, 'mk.db'), 'serve', '--port', '0', '--master-keys', 'not-a-key']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/warning: --master-keys is visible .* process list/);
    expect(result.stderr).not.toContain('not-a-key');
  });

  it('reads the secret from a file, and warns when it is given as an argument', async () => {
    const file = join(dir, 'secret.txt');
    writeFileSync(file, `${key.secret}\n`, { mode: 0o600 });
    const fromFile = await runCliInProcess([
      'request',
      'GET',
      `${server.url}/v1/whoami`,
      '--key-id',
      key.keyId,
      '--secret-file',
      file,
    ]);
    expect(fromFile.code).toBe(0);
    const fromArgument = await runCliInProcess([
      'request',
      'GET',
      `${server.url}/v1/whoami`,
      '--key-id',
      key.keyId,
      '--secret',
      key.secret,
    ]);
    expect(fromArgument.code).toBe(0);
    expect(fromArgument.stderr).toMatch(/warning: --secret is visible .* process list/);
    expect(fromArgument.stderr).not.toContain(key.secret);
  });

  it('fails with one line and a non-zero exit on refusals and bad input', async () => {
    const noSecret = await runCliInProcess(['request', 'GET', `${server.url}/v1/whoami`, '--key-id', key.keyId]);
    expect(noSecret.code).toBe(2);
    expectOneLineError(noSecret.stderr, /--secret-env/);
    const unsetVariable = await runCliInProcess([
      'request',
      'GET',
      `${server.url}/v1/whoami`,
      '--key-id',
      key.keyId,
      '--secret-env',
      'NOPE_NOT_SET',
    ]);
    expect(unsetVariable.code).toBe(2);
    expectOneLineError(unsetVariable.stderr, /NOPE_NOT_SET/);
    const badUrl = await runCliInProcess(
      ['request', 'GET', 'not a url', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    expect(badUrl.code).toBe(2);
    expectOneLineError(badUrl.stderr, /invalid URL/);
    // The exit status of a refused request as the OS sees it: a real process.
    const wrongSecret = await runCli(
      ['request', 'GET', `${server.url}/v1/whoami`, '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      {
        env: { HK_SECRET: `hks_${Buffer.alloc(32, 1).toString('base64url')}` },
      },
    );
    expect(wrongSecret.code).toBe(1);
    expect(wrongSecret.stderr).toMatch(/^hmac-kit: HTTP 401 signature_invalid\n$/);
    const unreachable = await runCliInProcess(
      ['request', 'GET', 'http://127.0.0.1:1/x', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    expect(unreachable.code).toBe(1);
    expectOneLineError(unreachable.stderr, /cannot connect to 127\.0\.0\.1:1: /);
  });

  it('sign prints only the headers to add (or JSON), usable with any HTTP tool', async () => {
    withSecret.env.HK_SECRET = key.secret;
    const result = await runCli(
      ['sign', 'GET', `${server.url}/v1/whoami`, '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    expect(result.code).toBe(0);
    const headers = Object.fromEntries(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
    );
    expect(
      Object.keys(headers)
        .map((name) => name.toLowerCase())
        .sort(),
    ).toEqual(['signature', 'signature-input']);
    const response = await fetch(`${server.url}/v1/whoami`, { headers });
    expect(response.status).toBe(200);

    const json = await runCliInProcess(
      ['--json', 'sign', 'GET', `${server.url}/v1/whoami`, '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      withSecret,
    );
    const parsed = JSON.parse(json.stdout) as { url: string; headers: Record<string, string> };
    expect(parsed.url).toBe(`${server.url}/v1/whoami`);
    expect(Object.keys(parsed.headers).length).toBeGreaterThan(0);
  });
});
