/**
 * Issue #12, migration: per-key scheme usage, persisted by every server process, read by
 * `hmac-kit keys usage` and `GET /v1/admin/usage`. Only fully proven requests count: the attack
 * tests send forged signatures for real key ids, a replayed copy, a tampered body (buffered and
 * streamed) and check that none of them was counted.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { djangoHmac, signMessage, xApi } from '@hmac-kit/core';
import { openKeys } from '@hmac-kit/server/store';
import type { KeyUsageView } from '@hmac-kit/server/views';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../test-support/cli-client.js';
import {
  buildOnce,
  repoRoot,
  runCli,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';
import { chunkedStream, startUpstream } from '../../../test-support/upstream.js';

/** A row of `keys usage --json`: the server's view, which the CLI prints. */
type UsageRow = KeyUsageView;

describe('hmac-kit keys usage and GET /v1/admin/usage: what a gateway with two workers proved', () => {
  let dir: string;
  let db: string;
  let svc: IssuedKey;
  let victim: IssuedKey;
  let admin: IssuedKey;
  let server: ServeProcess | undefined;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const cli = (args: string[]) => runCliInProcess(['--db', db, ...args], { cwd: dir });

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'keys.db');
    svc = await createKeyWithCli(db, 'svc');
    victim = await createKeyWithCli(db, 'victim');
    admin = await createKeyWithCli(db, 'root', ['--scope', 'admin']);
    upstream = await startUpstream();
    server = await startServe(
      ['--db', db, '--upstream', upstream.url, '--workers', '2', '--schemes', 'rfc9421,x-api,django-hmac'],
      { cwd: dir },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const send = async (
    prepared: { url: string; headers: Record<string, string> },
    init: { method?: string; body?: BodyInit; duplex?: 'half' } = {},
  ) =>
    fetch(prepared.url, {
      ...init,
      headers: { ...prepared.headers, 'x-forwarded-for': freshAddress() },
    } as RequestInit);

  const adminGet = async (target: string) => {
    const prepared = await signMessage({ method: 'GET', url: `${server!.url}/_hmac-kit${target}`, headers: {} }, admin);
    const response = await send(prepared);
    return { response, body: (await response.json()) as unknown };
  };

  it('counts proven requests per scheme; forged, replayed and tampered ones are never counted', async () => {
    const url = `${server!.url}/orders`;
    const body = '{"order":1}';
    // Genuine (the test upstream answers 201): three RFC 9421 requests, one X-API-* POST, one django-hmac request.
    const first = await signMessage({ method: 'GET', url, headers: {} }, svc);
    expect((await send(first)).status).toBe(201);
    for (let i = 0; i < 2; i++)
      expect((await send(await signMessage({ method: 'GET', url, headers: {} }, svc))).status).toBe(201);
    // Attacks. The replayed copy passes every header stage (its signature is genuine) and is refused
    // at the commit stage: a usage record taken before the commit would count it.
    expect((await send(first)).status).toBe(401);
    const forged = await signMessage({ method: 'GET', url, headers: {} }, { keyId: svc.keyId, secret: victim.secret });
    expect((await send(forged)).status).toBe(401);
    const forgedVictim = await signMessage(
      { method: 'GET', url, headers: {} },
      { keyId: victim.keyId, secret: svc.secret },
    );
    expect((await send(forgedVictim)).status).toBe(401);
    // X-API-* signs the body itself: a tampered copy sent first is refused and burns nothing.
    const xapi = await signMessage(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
      svc,
      { scheme: xApi() },
    );
    const tampered = await send(xapi, { method: 'POST', body: '{"order":2}' });
    expect(tampered.status).toBe(401);
    expect((await send(xapi, { method: 'POST', body })).status).toBe(201);
    // A streamed body (the gateway commits before the body, holding the nonce as a reservation) that
    // fails its digest: refused after the commit stage started, never counted.
    const signedBytes = new Uint8Array(randomBytes(400 * 1024));
    const sentBytes = new Uint8Array(signedBytes);
    sentBytes[sentBytes.length - 1] = (sentBytes.at(-1) ?? 0) ^ 0xff;
    const streamed = await signMessage(
      { method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, body: signedBytes },
      victim,
    );
    const cut = await send(
      { url: streamed.url, headers: { 'content-type': 'application/octet-stream', ...streamed.headers } },
      { method: 'POST', body: chunkedStream(sentBytes, 16 * 1024), duplex: 'half' },
    );
    expect(cut.status).toBe(401);
    const django = await signMessage({ method: 'GET', url, headers: {} }, svc, { scheme: djangoHmac() });
    expect((await send(django)).status).toBe(201);

    // The admin API reads what the workers wrote (a pair's first use is written within a poll interval).
    await vi.waitFor(
      async () => {
        const { response, body: rows } = await adminGet('/v1/admin/usage?principal=svc');
        expect(response.status).toBe(200);
        expect((rows as UsageRow[]).map((row) => [row.scheme, row.weak])).toEqual([
          ['django-hmac', true],
          ['rfc9421', false],
          ['x-api', false],
        ]);
      },
      { timeout: 30_000, interval: 100 },
    );
    const { body: victimRows } = await adminGet(`/v1/admin/usage?keyId=${victim.keyId}`);
    expect(victimRows).toEqual([]);

    // Shutdown flushes every worker's pending counts: now they are exact.
    await server!.stop();
    server = undefined;
    const listed = await cli(['--json', 'keys', 'usage', '--principal', 'svc']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as UsageRow[];
    expect(rows.map((row) => [row.keyId, row.principal, row.scheme, row.count, row.weak])).toEqual([
      [svc.keyId, 'svc', 'django-hmac', 1, true],
      [svc.keyId, 'svc', 'rfc9421', 3, false],
      [svc.keyId, 'svc', 'x-api', 1, false],
    ]);
    expect(rows[0]?.unprotected).toMatch(/neither the method, the path nor the query/);
    for (const row of rows) expect(Date.parse(row.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(row.firstUsedAt));
    // The key attacked with forged signatures and a tampered stream: no usage at all.
    const attacked = await cli(['--json', 'keys', 'usage', '--key-id', victim.keyId]);
    expect(JSON.parse(attacked.stdout)).toEqual([]);
    expect((await cli(['keys', 'usage', '--key-id', victim.keyId])).stdout).toBe(
      'No recorded use (only fully proven requests are counted).\n',
    );

    // The table: one line per key and scheme, weak ones marked (a real process, once for keys usage).
    const table = await runCli(['--db', db, 'keys', 'usage', '--principal', 'svc'], { cwd: dir });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KEYID\s+PRINCIPAL\s+SCHEME\s+COUNT\s+LASTUSEDAT\s+WEAK$/);
    expect(lines[1]).toMatch(new RegExp(`^${svc.keyId}\\s+svc\\s+django-hmac\\s+1\\s+\\S+Z\\s+WEAK$`));
    expect(lines[2]).toMatch(new RegExp(`^${svc.keyId}\\s+svc\\s+rfc9421\\s+3\\s+\\S+Z$`));
    expect(lines.at(-1)).toMatch(/^WEAK: django-hmac protect\(s\) less than the RFC 9421 profile/);
    const filtered = await cli(['--json', 'keys', 'usage', '--scheme', 'x-api']);
    expect((JSON.parse(filtered.stdout) as UsageRow[]).map((row) => row.keyId)).toEqual([svc.keyId]);
    // Admin calls are proven requests too: the admin key's own use is there.
    const everything = JSON.parse((await cli(['--json', 'keys', 'usage'])).stdout) as UsageRow[];
    expect(everything.filter((row) => row.keyId === admin.keyId).map((row) => row.scheme)).toEqual(['rfc9421']);
  });

  it('admin API: filters, pages with Link, problem+json for bad parameters, admin only', async () => {
    server ??= await startServe(['--db', db, '--upstream', upstream.url], { cwd: dir });
    const first = await adminGet('/v1/admin/usage?limit=1');
    expect(first.response.status).toBe(200);
    expect(first.body).toHaveLength(1);
    const link = first.response.headers.get('link') ?? '';
    const next = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1];
    expect(next).toMatch(/^\/_hmac-kit\/v1\/admin\/usage\?limit=1&after=/);
    const second = await adminGet(next!.slice('/_hmac-kit'.length));
    expect(second.response.status).toBe(200);
    expect(second.body).not.toEqual(first.body);
    const all = (await adminGet('/v1/admin/usage')).body as UsageRow[];
    // Rows compared by identity: these admin GETs are proven requests themselves, so the admin key's
    // count and lastUsedAt may move between the pages and the full listing (its usage is flushed in batches).
    const identity = (rows: UsageRow[]) => rows.map((row) => `${row.keyId} ${row.scheme}`);
    expect(identity([...(first.body as UsageRow[]), ...(second.body as UsageRow[])])).toEqual(
      identity(all.slice(0, 2)),
    );
    const schemeOnly = (await adminGet('/v1/admin/usage?scheme=django-hmac')).body as UsageRow[];
    expect(schemeOnly.map((row) => row.scheme)).toEqual(['django-hmac']);

    for (const target of [
      '/v1/admin/usage?limit=0',
      '/v1/admin/usage?limit=abc',
      '/v1/admin/usage?after=not-a-cursor!',
      `/v1/admin/usage?after=${encodeURIComponent(Buffer.from('{"l":"k","o":"oldest","c":1,"k":"x"}').toString('base64url'))}`,
      `/v1/admin/usage?scheme=${'s'.repeat(65)}`,
      `/v1/admin/usage?${Array.from({ length: 101 }, (_, i) => `keyId=k${i}`).join('&')}`,
    ]) {
      const { response, body } = await adminGet(target);
      expect(response.status, target).toBe(400);
      expect(response.headers.get('content-type'), target).toMatch(/^application\/problem\+json/);
      expect(body, target).toMatchObject({ code: 'invalid_request', type: 'urn:hmac-kit:problem:invalid_request' });
    }
    // Unsigned: 401; signed by a key without the admin scope: 403.
    expect((await fetch(`${server.url}/_hmac-kit/v1/admin/usage`)).status).toBe(401);
    const notAdmin = await signMessage(
      { method: 'GET', url: `${server.url}/_hmac-kit/v1/admin/usage`, headers: {} },
      svc,
    );
    expect((await send(notAdmin)).status).toBe(403);
  });
});

describe('hmac-kit keys usage: declared legacy schemes and bad input', () => {
  let dir: string;
  let db: string;
  let legacyKeyId: string;
  const cli = (args: string[]) => runCliInProcess(['--db', db, ...args], { cwd: dir });

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'keys.db');
    // Seeded through the key service (what the server calls after a proven request).
    const opened = await openKeys({ database: db, createDatabase: true, createMasterKey: true });
    try {
      await opened.keyService.createPrincipal({ name: 'legacy', kind: 'service' });
      const key = await opened.keyService.importKey({
        principal: 'legacy',
        keyId: 'legacy',
        secret: new TextEncoder().encode('secret-key'),
      });
      legacyKeyId = key.keyId;
      opened.keyService.recordKeyUsage(legacyKeyId, 'authorization-hmac');
      opened.keyService.recordKeyUsage(legacyKeyId, 'signs-everything');
      opened.keyService.recordKeyUsage(legacyKeyId, 'rfc9421');
    } finally {
      await opened.close();
    }
  });

  it('grades declared schemes from the server config with --config, and as weak without it', async () => {
    const without = JSON.parse((await cli(['--json', 'keys', 'usage'])).stdout) as UsageRow[];
    expect(without.map((row) => [row.scheme, row.count, row.weak])).toEqual([
      ['authorization-hmac', 1, true],
      ['rfc9421', 1, false],
      ['signs-everything', 1, true],
    ]);
    // A declared scheme that signs everything the RFC 9421 profile does is not weak.
    const strong = join(dir, 'strong.json');
    writeFileSync(
      strong,
      JSON.stringify({
        legacySchemes: [
          {
            name: 'signs-everything',
            signature: { header: 'x-sig', encoding: 'hex' },
            keyId: { header: 'x-key' },
            message: ['method', { literal: '\n' }, 'path', { literal: '\n' }, 'query', { literal: '\n' }, 'body'],
            timestamp: { header: 'x-time', format: 'unix' },
            nonce: { header: 'x-nonce' },
          },
        ],
      }),
    );
    const graded = JSON.parse((await cli(['--json', 'keys', 'usage', '--config', strong])).stdout) as UsageRow[];
    expect(graded.map((row) => [row.scheme, row.weak])).toEqual([
      ['authorization-hmac', true],
      ['rfc9421', false],
      ['signs-everything', false],
    ]);
    const example = join(repoRoot, 'examples/legacy/authorization-hmac.json');
    const family1 = JSON.parse((await cli(['--json', 'keys', 'usage', '--config', example])).stdout) as UsageRow[];
    expect(family1[0]).toMatchObject({ scheme: 'authorization-hmac', weak: true });
    expect(family1[0]?.unprotected).toMatch(/signs no time/);
  });

  it('refuses bad input with one line and a non-zero exit', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--key-id', 'hk_nosuchkey000000000000'], 1, /^hmac-kit: key hk_nosuchkey000000000000 does not exist\n$/],
      [['--principal', 'nobody'], 1, /^hmac-kit: principal "nobody" does not exist\n$/],
      [['--scheme', 'two words'], 2, /^hmac-kit: invalid scheme "two words": use a scheme name such as rfc9421\n$/],
      [['--limit', '0'], 2, /^hmac-kit: invalid limit "0": use a positive integer\n$/],
      [['--after', 'junk'], 2, /^hmac-kit: invalid cursor/],
      [['--config', join(dir, 'missing.json')], 2, /^hmac-kit: config: cannot read config file/],
      [['--key-id', `hks_${'A'.repeat(43)}`], 2, /^hmac-kit: --key-id looks like a secret/],
    ];
    for (const [args, code, message] of cases) {
      const result = await cli(['keys', 'usage', ...args]);
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(result.stdout).toBe('');
    }
    const help = await cli(['keys', 'usage', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Counts only requests that were fully proven');
    expect(help.stdout).toContain('--principal <name>');
  });

  it('pages with --limit and says how to continue', async () => {
    const first = await cli(['--json', 'keys', 'usage', '--limit', '2']);
    expect((JSON.parse(first.stdout) as UsageRow[]).map((row) => row.scheme)).toEqual([
      'authorization-hmac',
      'rfc9421',
    ]);
    const after = /--after (\S+)/.exec(first.stderr)?.[1];
    expect(after).toBeDefined();
    const rest = await cli(['--json', 'keys', 'usage', '--after', after!]);
    expect((JSON.parse(rest.stdout) as UsageRow[]).map((row) => row.scheme)).toEqual(['signs-everything']);
  });
});
