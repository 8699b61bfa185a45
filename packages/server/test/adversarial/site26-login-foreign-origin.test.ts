/**
 * Logins sent by a page of another *origin* that the browser does not label `cross-site` (session 26,
 * helper site26).
 *
 * review26 refused logins labelled `Sec-Fetch-Site: cross-site`, but a sibling subdomain's page is
 * `same-site`, and older browsers send no `Sec-Fetch-Site` at all (they do send `Origin` on a POST).
 * Either could still make a visitor's browser send text/plain or form logins (simple requests, no
 * CORS preflight) whose wrong passwords count against the visitor's address, and so lock the
 * visitor (an administrator) out of the console's sign-in. The server grants no CORS, so no page of
 * another origin can read a login's answer: a login is now taken from a browser only when it says
 * the server's own origin sent it (`same-origin`, or `none` for a user's own navigation), or, from a
 * browser that sends no `Sec-Fetch-Site`, when its `Origin` is the server's own (`--public-origin`
 * when set, else the request's scheme and Host). Clients that are not browsers send neither header.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, requestFrom } from '../support/from-address.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { SIMPLE_LOGINS } from '../support/simple-logins.js';

const PASSWORD = 'correct horse battery staple';

/** The browsers' labels of a page of another origin: a sibling subdomain, and an old browser. */
const FOREIGN: Array<[string, Record<string, string>]> = [
  [
    'a same-site page',
    { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors', origin: 'https://evil.example.com' },
  ],
  ['an old browser on another origin', { origin: 'https://evil.example.com' }],
  ['an old browser in an opaque origin', { origin: 'null' }],
];

function post(server: RunningServer, source: string, path: string, headers: Record<string, string>, body: string) {
  return requestFrom(source, new URL(path, server.url), {
    method: 'POST',
    headers: { ...headers, 'content-length': Buffer.byteLength(body) },
    body,
  });
}

describe('adversarial: logins sent by a page of another origin', () => {
  let server: RunningServer;
  let proxied: RunningServer;
  let caseNumber = 0;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421,django-hmac' }, {}, { passwordHashing: { N: 1024 } });
    proxied = await startInProcess(
      { schemes: 'rfc9421,django-hmac', publicOrigin: 'https://keys.example.com/auth' },
      {},
      { passwordHashing: { N: 1024 } },
    );
  });

  afterAll(async () => {
    await server?.close();
    await proxied?.close();
  });

  async function user(target: RunningServer, admin: boolean): Promise<string> {
    const name = `fo-${Math.random().toString(36).slice(2, 10)}`;
    if (admin) await issueKey(target, name, ['admin']);
    else await target.services.keyService.createPrincipal({ name, kind: 'user', actor: 'test' });
    await target.services.keyService.setPassword(name, PASSWORD, { actor: 'test' });
    return name;
  }

  function consoleSignIn(target: RunningServer, source: string, username: string, password: string): Promise<Answer> {
    const body = JSON.stringify({ username, password });
    return post(
      target,
      source,
      '/console/api/session',
      { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body,
    );
  }

  for (const [label, headers] of FOREIGN) {
    for (const [path, type, encode] of SIMPLE_LOGINS) {
      it(`${path} (${type}) from ${label}: wrong logins do not lock the visitor out of the console`, async () => {
        const admin = await user(server, true);
        caseNumber += 1;
        const visitor = `127.0.26.${caseNumber}`;
        const statuses: Array<[number, unknown]> = [];
        for (let attempt = 0; attempt < 8; attempt++) {
          const answer = await post(
            server,
            visitor,
            path,
            { ...headers, 'content-type': type },
            encode(admin, `guess-${attempt}`),
          );
          statuses.push([answer.status, answer.body.code]);
        }
        expect(statuses).toEqual(Array.from({ length: 8 }, () => [403, 'cross_site_request']));
        const signIn = await consoleSignIn(server, visitor, admin, PASSWORD);
        expect(signIn.status, JSON.stringify(signIn.body)).toBe(201);
      }, 60_000);
    }

    it(`from ${label}, the right password issues no key (no login CSRF)`, async () => {
      const name = await user(server, false);
      const body = JSON.stringify({ username: name, password: PASSWORD });
      const refused = await post(server, '127.0.27.1', '/v1/keys', { ...headers, 'content-type': 'text/plain' }, body);
      expect([refused.status, refused.body.code]).toEqual([403, 'cross_site_request']);
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect((await server.services.keyService.listKeys({ principal: name })).items).toEqual([]);
    });
  }

  it('still taken: clients that are not browsers, the own origin, a user navigation', async () => {
    const name = await user(server, false);
    const body = JSON.stringify({ username: name, password: PASSWORD });
    const own = new URL(server.url).origin;
    const cases: Array<Record<string, string>> = [
      {}, // curl, the SDKs, the CLI
      { 'sec-fetch-site': 'same-origin', origin: own },
      { 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
      { origin: own }, // an old browser on the server's own page
    ];
    for (const headers of cases) {
      const answer = await post(
        server,
        '127.0.27.2',
        '/v1/keys',
        { ...headers, 'content-type': 'application/json' },
        body,
      );
      expect([headers, answer.status, answer.body.code]).toEqual([headers, 201, undefined]);
    }
  });

  it("behind a proxy with --public-origin: the public origin is the server's own, the Host's is not", async () => {
    const name = await user(proxied, false);
    const body = JSON.stringify({ username: name, password: PASSWORD });
    const json = { 'content-type': 'application/json' };
    for (const origin of ['https://keys.example.com', 'https://KEYS.example.com:443']) {
      const answer = await post(proxied, '127.0.27.3', '/v1/keys', { ...json, origin }, body);
      expect([origin, answer.status]).toEqual([origin, 201]);
    }
    for (const origin of [new URL(proxied.url).origin, 'http://keys.example.com', 'https://keys.example.com:8443']) {
      const answer = await post(proxied, '127.0.27.3', '/v1/keys', { ...json, origin }, body);
      expect([origin, answer.status, answer.body.code]).toEqual([origin, 403, 'cross_site_request']);
    }
  });
});
