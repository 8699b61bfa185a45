/**
 * Logins (`POST /v1/keys`, django-hmac's `/obtain-hmac-api-key/`) from another site (session 26,
 * helper review26).
 *
 * A login carries its credentials in its body, so a cross-site page cannot log in as anyone it does
 * not already know the password of, and it cannot read the answer (the server grants no CORS). But
 * the logins take a body whatever its media type (django_hmac_authentication's obtain view takes
 * form posts, and a `text/plain` body was read as JSON): a cross-site "simple request", which any
 * page can make a visitor's browser send without a CORS preflight. Every wrong password counts
 * against the *source address*, and that address's budget is shared with every other password check
 * of the server, the console's sign-in included. So any page an administrator opened could send a
 * handful of wrong logins from the administrator's own browser and lock the administrator's address
 * (and everyone behind the same NAT) out of the console for 15 minutes; and a page visited by many
 * could spread password guesses over their addresses. A login no browser would send for a page of
 * the server's own origin (`Sec-Fetch-Site: cross-site`, as the console already refuses it) is now
 * `403 cross_site_request`, before the body is read, before any throttle or password check.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, requestFrom } from '../support/from-address.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { SIMPLE_LOGINS } from '../support/simple-logins.js';

const PASSWORD = 'correct horse battery staple';

describe('adversarial: logins sent by another site', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421,django-hmac' }, {}, { passwordHashing: { N: 1024 } });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** What a cross-site page's `fetch(url, { method: 'POST', mode: 'no-cors', body })` sends. */
  function crossSite(source: string, path: string, body: string, type: string): Promise<Answer> {
    return requestFrom(source, new URL(path, server.url), {
      method: 'POST',
      headers: {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'sec-fetch-site': 'cross-site',
        'sec-fetch-mode': 'no-cors',
        origin: 'https://evil.example',
      },
      body,
    });
  }

  function consoleSignIn(source: string, username: string, password: string): Promise<Answer> {
    const body = JSON.stringify({ username, password });
    return requestFrom(source, new URL('/console/api/session', server.url), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'sec-fetch-site': 'same-origin',
      },
      body,
    });
  }

  for (const [path, type, encode] of SIMPLE_LOGINS) {
    it(`${path} (${type}): wrong logins from a cross-site page do not lock the visitor out of the console`, async () => {
      const admin = `xs-admin-${Math.random().toString(36).slice(2, 8)}`;
      await issueKey(server, admin, ['admin']);
      await server.services.keyService.setPassword(admin, PASSWORD, { actor: 'test' });
      // A fresh loopback address per case: the administrator's browser.
      const visitor = `127.0.${path.length}.${type.length}`;
      const statuses: Array<[number, unknown]> = [];
      for (let attempt = 0; attempt < 8; attempt++) {
        const answer = await crossSite(visitor, path, encode(admin, `guess-${attempt}`), type);
        statuses.push([answer.status, answer.body.code]);
      }
      expect(statuses).toEqual(Array.from({ length: 8 }, () => [403, 'cross_site_request']));
      // The administrator, at their own console, from the same browser.
      const signIn = await consoleSignIn(visitor, admin, PASSWORD);
      expect(signIn.status, JSON.stringify(signIn.body)).toBe(201);
    }, 60_000);
  }

  it('a cross-site login with the right password issues no key (no login CSRF), a same-origin one still does', async () => {
    const user = 'xs-user';
    await server.services.keyService.createPrincipal({ name: user, kind: 'user', actor: 'test' });
    await server.services.keyService.setPassword(user, PASSWORD, { actor: 'test' });
    const body = JSON.stringify({ username: user, password: PASSWORD });
    const refused = await crossSite('127.0.9.1', '/v1/keys', body, 'text/plain');
    expect([refused.status, refused.body.code]).toEqual([403, 'cross_site_request']);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect((await server.services.keyService.listKeys({ principal: user })).items).toEqual([]);
    // Clients that are not browsers send no Sec-Fetch-Site; browsers label their own origin's calls.
    for (const site of [undefined, 'same-origin', 'none']) {
      const answer = await requestFrom('127.0.9.2', new URL('/v1/keys', server.url), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(site === undefined ? {} : { 'sec-fetch-site': site }),
        },
        body,
      });
      expect([site, answer.status]).toEqual([site, 201]);
    }
  });
});
