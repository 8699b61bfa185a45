import type { RunningServer } from '@hmac-kit/server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { issueKey, startInProcess } from './support/in-process.js';

// The console's session layer, attacked the way a browser-borne attacker would: requests without
// the CSRF token, cookies of a non-admin, a cookie replayed after sign-out, a guesser hammering the
// sign-in, and a search for stored secrets in every listing the console reads.

interface Browser {
  address: string;
  cookie?: string;
  csrf?: string;
}

/** `name=value` of the session cookie in a Set-Cookie header, and its attributes. */
function parseSetCookie(header: string | null): { pair: string; attributes: string[] } | undefined {
  if (!header) return undefined;
  const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
  return { pair, attributes };
}

describe('console sessions', () => {
  let server: RunningServer;
  let admin: Awaited<ReturnType<typeof issueKey>>;
  let other: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    server = await startInProcess({ consoleIdleTimeout: '15m' });
    const keys = server.services.keyService;
    await keys.createPrincipal({ name: 'root', kind: 'user', password: 'root password', actor: 'test' });
    const rootKey = await keys.createKey({ principal: 'root', scopes: ['admin'], actor: 'test' });
    admin = { keyId: rootKey.key.keyId, secret: rootKey.secret, principal: 'root', scopes: ['admin'] };
    // A user with a password and keys, none of them admin-scoped.
    await keys.createPrincipal({ name: 'dev', kind: 'user', password: 'dev password', actor: 'test' });
    other = await issueKey(server, 'dev', ['orders:read']);
  });

  afterAll(async () => {
    await server?.close();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  const url = (path: string) => `${server.url}/console/api${path}`;

  async function call(
    browser: Browser,
    method: string,
    path: string,
    options: { body?: unknown; csrf?: string | null; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { 'x-forwarded-for': browser.address, ...options.headers };
    if (browser.cookie) headers.cookie = browser.cookie;
    const csrf = options.csrf === undefined ? browser.csrf : options.csrf;
    if (csrf) headers['x-csrf-token'] = csrf;
    if (options.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const response = await fetch(url(path), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      redirect: 'manual',
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      text,
      body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  }

  async function signIn(username: string, password: string, address = freshAddress()) {
    const browser: Browser = { address };
    const answer = await call(browser, 'POST', '/session', { body: { username, password } });
    const cookie = parseSetCookie(answer.headers.get('set-cookie'));
    if (answer.status === 201 && cookie) {
      browser.cookie = cookie.pair;
      browser.csrf = answer.body.csrfToken as string;
    }
    return { answer, browser, cookie };
  }

  it('signs an admin in: HttpOnly, SameSite=Strict cookie scoped to the console, CSRF token in the body', async () => {
    const { answer, browser, cookie } = await signIn('root', 'root password');
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ principal: 'root', idleTimeoutSeconds: 900 });
    expect(answer.body.csrfToken).toMatch(/^[\w-]{43}$/);
    expect(cookie?.pair).toMatch(/^hmac_kit_console=[\w-]{43}$/);
    expect(cookie?.attributes).toEqual(expect.arrayContaining(['Path=/console', 'HttpOnly', 'SameSite=Strict']));
    // Plain HTTP: no Secure flag (a browser would drop the cookie).
    expect(cookie?.attributes).not.toContain('Secure');
    // The session id itself is never in a body the page can read.
    expect(answer.text).not.toContain(cookie?.pair.split('=')[1]);
    const session = await call(browser, 'GET', '/session');
    expect(session.status).toBe(200);
    expect(session.body.principal).toBe('root');
  });

  it('marks the cookie Secure when the request came over TLS (trusted proxy says https)', async () => {
    const browser: Browser = { address: freshAddress() };
    const answer = await call(browser, 'POST', '/session', {
      body: { username: 'root', password: 'root password' },
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(answer.status).toBe(201);
    expect(parseSetCookie(answer.headers.get('set-cookie'))?.attributes).toContain('Secure');
  });

  it('refuses a wrong password and a non-admin principal with the same answer', async () => {
    const wrong = await signIn('root', 'not the password');
    const nonAdmin = await signIn('dev', 'dev password');
    const nobody = await signIn('nobody', 'whatever it is');
    for (const { answer, cookie } of [wrong, nonAdmin, nobody]) {
      expect(answer.status).toBe(401);
      expect(answer.body.code).toBe('invalid_credentials');
      expect(cookie).toBeUndefined();
    }
    expect(nonAdmin.answer.body.detail).toBe(wrong.answer.body.detail);
  });

  it('audits a non-admin sign-in with the right password as refused, never as login.succeeded', async () => {
    const keys = server.services.keyService;
    await keys.createPrincipal({ name: 'dev-audit', kind: 'user', password: 'dev-audit password', actor: 'test' });
    await issueKey(server, 'dev-audit', ['orders:read']);
    const address = freshAddress();
    const refused = await signIn('dev-audit', 'dev-audit password', address);
    expect(refused.answer.status).toBe(401);
    const logins = await keys.queryAudit({ principal: 'dev-audit', types: ['login.succeeded', 'login.failed'] });
    expect(logins.map((entry) => [entry.type, entry.code, entry.source])).toEqual([
      ['login.failed', 'ERR_NOT_PERMITTED', address],
    ]);
    // An admin's sign-in is still a success.
    const rootAddress = freshAddress();
    expect((await signIn('root', 'root password', rootAddress)).answer.status).toBe(201);
    const rootLogins = await keys.queryAudit({ principal: 'root', types: ['login.succeeded'] });
    expect(rootLogins.some((entry) => entry.source === rootAddress)).toBe(true);
  });

  it('refuses a state-changing call without the CSRF token, with a wrong one, or labelled cross-site or from another origin', async () => {
    const { browser } = await signIn('root', 'root password');
    const create = { body: { name: `csrf-${Date.now()}`, kind: 'service' } };
    const without = await call(browser, 'POST', '/v1/admin/principals', { ...create, csrf: null });
    expect(without.status).toBe(403);
    expect(without.body.code).toBe('csrf_token_invalid');
    const wrongToken = await call(browser, 'POST', '/v1/admin/principals', { ...create, csrf: 'x'.repeat(43) });
    expect(wrongToken.status).toBe(403);
    const crossSite = await call(browser, 'POST', '/v1/admin/principals', {
      ...create,
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    // A sibling subdomain's page (same-site: the SameSite=Strict cookie goes along) and an old
    // browser's page of another origin (no Sec-Fetch-Site, its Origin): refused too (site26), reads
    // as well, which would otherwise extend the session's idle deadline.
    const foreign: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example.com' },
      { origin: 'null' },
    ];
    for (const headers of foreign) {
      const write = await call(browser, 'POST', '/v1/admin/principals', { ...create, headers });
      expect([headers, write.status, write.body.code]).toEqual([headers, 403, 'cross_site_request']);
      const read = await call(browser, 'GET', '/session', { headers });
      expect([headers, read.status, read.body.code]).toEqual([headers, 403, 'cross_site_request']);
    }
    // The console's own page, in a browser that sends no Sec-Fetch-Site: its Origin is the server's.
    const own = await call(browser, 'GET', '/session', { headers: { origin: new URL(server.url).origin } });
    expect(own.status).toBe(200);
    // What a cross-site HTML form can send: a urlencoded body (and no custom header).
    const form = await call(browser, 'POST', '/v1/admin/principals', {
      ...create,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(await server.services.keyService.getPrincipal(create.body.name)).toBeUndefined();
    // Sign-out is state-changing too.
    expect((await call(browser, 'DELETE', '/session', { csrf: null })).status).toBe(403);
    const made = await call(browser, 'POST', '/v1/admin/principals', create);
    expect(made.status).toBe(201);
    expect(await server.services.keyService.getPrincipal(create.body.name)).toBeDefined();
  });

  it('refuses every call without a session, with a forged cookie, or with a non-admin key as credentials', async () => {
    const anonymous: Browser = { address: freshAddress() };
    for (const path of ['/session', '/v1/admin/keys', '/v1/admin/audit', '/activity', '/health', '/v1/admin/usage']) {
      const answer = await call(anonymous, 'GET', path);
      expect(answer.status, path).toBe(401);
      expect(answer.body.code).toBe('console_signed_out');
    }
    const forged: Browser = { address: freshAddress(), cookie: `hmac_kit_console=${'A'.repeat(43)}` };
    expect((await call(forged, 'GET', '/v1/admin/keys')).status).toBe(401);
    // A non-admin's signed request is no way in either: the console takes sessions only.
    const request = await signed(other, 'GET', url('/v1/admin/keys'));
    const answer = await send(request, { 'x-forwarded-for': freshAddress() });
    expect(answer.status).toBe(401);
  });

  it('ends the session at sign-out: the old cookie is refused afterwards', async () => {
    const { browser } = await signIn('root', 'root password');
    expect((await call(browser, 'GET', '/v1/admin/keys')).status).toBe(200);
    const out = await call(browser, 'DELETE', '/session');
    expect(out.status).toBe(204);
    expect(parseSetCookie(out.headers.get('set-cookie'))?.attributes).toContain('Max-Age=0');
    // The attacker kept a copy of the cookie and the token.
    const replay = await call(browser, 'GET', '/v1/admin/keys');
    expect(replay.status).toBe(401);
    expect((await call(browser, 'POST', '/v1/admin/principals', { body: { name: 'after-out' } })).status).toBe(401);
  });

  it('ends a session when its admin loses the admin right (key revoked)', async () => {
    const keys = server.services.keyService;
    await keys.createPrincipal({ name: 'temp-admin', kind: 'user', password: 'temp password', actor: 'test' });
    const key = await keys.createKey({ principal: 'temp-admin', scopes: ['admin'], actor: 'test' });
    const { browser } = await signIn('temp-admin', 'temp password');
    expect((await call(browser, 'GET', '/v1/admin/keys')).status).toBe(200);
    await keys.revokeKey(key.key.keyId, { actor: 'test' });
    expect((await call(browser, 'GET', '/v1/admin/keys')).status).toBe(401);
    // Gone for good, even if the right came back.
    await keys.createKey({ principal: 'temp-admin', scopes: ['admin'], actor: 'test' });
    expect((await call(browser, 'GET', '/v1/admin/keys')).status).toBe(401);
  });

  it('ends an idle session after the idle timeout, and keeps a used one alive', async () => {
    const { browser } = await signIn('root', 'root password');
    const { browser: busy } = await signIn('root', 'root password');
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    vi.setSystemTime(Date.now() + 10 * 60_000);
    expect((await call(busy, 'GET', '/session')).status).toBe(200);
    vi.setSystemTime(Date.now() + 10 * 60_000);
    // 20 minutes idle: gone. The busy one was used 10 minutes ago: alive.
    expect((await call(browser, 'GET', '/session')).status).toBe(401);
    expect((await call(busy, 'GET', '/session')).status).toBe(200);
    // Past the 8-hour absolute limit, activity or not.
    for (let hour = 0; hour < 9; hour++) {
      vi.setSystemTime(Date.now() + 10 * 60_000);
      await call(busy, 'GET', '/session');
      vi.setSystemTime(Date.now() + 50 * 60_000);
      await call(busy, 'GET', '/session');
    }
    expect((await call(busy, 'GET', '/session')).status).toBe(401);
  });

  it("never extends the idle deadline for the page's own refresh polls: a page left open is signed out", async () => {
    // The Keys page refreshes usage every 3 s by itself (x-console-background: 1). An admin who walked
    // away must be signed out 15 minutes after their last own action, however long the page polls.
    const { browser: left } = await signIn('root', 'root password');
    const { browser: working } = await signIn('root', 'root password');
    const background = { headers: { 'x-console-background': '1' } };
    const start = Date.now();
    vi.useFakeTimers({ toFake: ['Date'], now: start });
    const minutesIn = () => (Date.now() - start) / 60_000;
    let signedOutAt: number | undefined;
    while (signedOutAt === undefined && minutesIn() < 60) {
      vi.setSystemTime(Date.now() + 30_000);
      const poll = await call(left, 'GET', '/v1/admin/usage', background);
      if (poll.status === 401) {
        expect(poll.body.code).toBe('console_signed_out');
        signedOutAt = minutesIn();
      } else {
        expect(poll.status).toBe(200);
        // The working admin clicks around at 10 minutes; polls otherwise.
        if (minutesIn() === 10) expect((await call(working, 'GET', '/v1/admin/keys')).status).toBe(200);
        else expect((await call(working, 'GET', '/v1/admin/usage', background)).status).toBe(200);
      }
    }
    // Gone at the first poll past 15 minutes (its polls alone kept nothing alive).
    expect(signedOutAt).toBe(15);
    // The working admin's own call at 10 minutes extended theirs to 25 minutes; polls did not.
    vi.setSystemTime(start + 24.5 * 60_000);
    expect((await call(working, 'GET', '/v1/admin/usage', background)).status).toBe(200);
    vi.setSystemTime(start + 25 * 60_000);
    expect((await call(working, 'GET', '/v1/admin/usage', background)).status).toBe(401);
    // The left page's cookie stays refused, user-initiated call or not.
    expect((await call(left, 'GET', '/session')).status).toBe(401);
  });

  it('throttles sign-in per address and per (address, user), never locking the user out everywhere', async () => {
    const keys = server.services.keyService;
    await keys.createPrincipal({ name: 'target', kind: 'user', password: 'target password', actor: 'test' });
    await keys.createKey({ principal: 'target', scopes: ['admin'], actor: 'test' });
    const attacker = freshAddress();
    const throttle = server.services.loginThrottle;
    // Guess until the full block (the throttle slows a guesser down before it blocks for 15 minutes).
    let failures = 0;
    let block = 0;
    while (block < 60 && failures < 20) {
      const answer = (await signIn('target', `guess ${failures}`, attacker)).answer;
      if (answer.status === 401) {
        failures++;
      } else {
        expect(answer.status).toBe(429);
        block = Number(answer.headers.get('retry-after'));
        // A short slow-down: wait for it to pass (the condition, not a fixed time), then guess on.
        if (block < 60) {
          await vi.waitFor(async () => expect(await throttle.blockedFor(`login-ip:${attacker}`)).toBe(0), {
            timeout: 60_000,
            interval: 100,
          });
        }
      }
    }
    expect(failures).toBeGreaterThanOrEqual(3);
    expect(block).toBeGreaterThanOrEqual(60);
    // The right password from the attacker's address is refused while the block lasts...
    const blocked = await signIn('target', 'target password', attacker);
    expect(blocked.answer.status).toBe(429);
    expect(Number(blocked.answer.headers.get('retry-after'))).toBeGreaterThan(0);
    // ...and the real user, elsewhere, signs in.
    expect((await signIn('target', 'target password')).answer.status).toBe(201);
  });

  it('never sends a stored secret: only the creation answer carries the new secret, once', async () => {
    const { browser } = await signIn('root', 'root password');
    const created = await call(browser, 'POST', '/v1/admin/keys', {
      body: { principal: 'dev', scopes: ['orders:read'], label: 'from the console', expiresIn: '30d' },
    });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^hks_/);
    const keyId = created.body.keyId as string;
    const rotated = await call(browser, 'POST', `/v1/admin/keys/${keyId}/rotate`, { body: { overlap: '1h' } });
    expect(rotated.status).toBe(201);
    const rotatedSecret = rotated.body.secret as string;
    // Use the keys so usage, activity and audit have something about them.
    await send(await signed({ keyId, secret }, 'GET', `${server.url}/v1/whoami`), {
      'x-forwarded-for': freshAddress(),
    });
    const secrets = [secret, rotatedSecret, admin.secret, other.secret];
    const reads = [
      '/v1/admin/keys?limit=1000&all=true',
      '/v1/admin/keys?order=newest',
      `/v1/admin/keys/${keyId}`,
      `/v1/admin/keys?keyId=${keyId}`,
      '/v1/admin/principals',
      '/v1/admin/principals/dev',
      '/v1/admin/audit?limit=1000',
      '/activity',
      `/v1/admin/usage?keyId=${keyId}`,
      '/health',
      '/session',
    ];
    for (const path of reads) {
      const answer = await call(browser, 'GET', path);
      expect(answer.status, path).toBe(200);
      for (const value of secrets) expect(answer.text, path).not.toContain(value);
      expect(answer.text, path).not.toMatch(/hks_|"secret"/);
    }
  });

  it('records which scheme verified each key, and failures per key and per address over the last hour', async () => {
    const { browser } = await signIn('root', 'root password');
    const key = await issueKey(server, 'dev', []);
    const address = freshAddress();
    await send(await signed(key, 'GET', `${server.url}/v1/whoami`), { 'x-forwarded-for': address });
    await send(await signed(key, 'GET', `${server.url}/v1/whoami`), { 'x-forwarded-for': address });
    const forged = await signed({ keyId: key.keyId, secret: other.secret }, 'GET', `${server.url}/v1/whoami`);
    expect((await send(forged, { 'x-forwarded-for': address })).status).toBe(401);
    // Persisted by the key service in batches: a pair's first use is written at the next poll, later
    // counts once a minute (exact counts: test/key-usage.test.ts, after a shutdown flushes them).
    await vi.waitFor(
      async () => {
        const usage = await call(browser, 'GET', `/v1/admin/usage?keyId=${key.keyId}&keyId=${other.keyId}`);
        expect(usage.body).toEqual([
          {
            keyId: key.keyId,
            principal: 'dev',
            scheme: 'rfc9421',
            count: expect.any(Number),
            firstUsedAt: expect.any(String),
            lastUsedAt: expect.any(String),
            weak: false,
            unprotected: null,
          },
        ]);
        expect((usage.body as unknown as Array<{ count: number }>)[0]?.count).toBeLessThanOrEqual(2);
      },
      { timeout: 30_000, interval: 50 },
    );
    const activity = await call(browser, 'GET', '/activity');
    expect(activity.body).toMatchObject({ windowSeconds: 3600, source: 'memory' });
    expect(activity.body.byKey).toContainEqual({ subject: key.keyId, count: 1 });
    expect(activity.body.bySource).toContainEqual({ subject: address, count: 1 });
  });

  it('reports health: database, Redis, master key ids, version', async () => {
    const { browser } = await signIn('root', 'root password');
    const health = await call(browser, 'GET', '/health');
    expect(health.body).toMatchObject({
      version: expect.any(String),
      database: { kind: 'sqlite', state: 'ok' },
      redis: null,
      masterKeyIds: ['mk-test'],
      currentMasterKeyId: 'mk-test',
    });
  });
});
