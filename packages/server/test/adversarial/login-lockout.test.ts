import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../../test-support/cli-client.js';
import { type Answer, requestFrom } from '../support/from-address.js';
import { issueKey, startInProcess } from '../support/in-process.js';

// Issue #11 defect 2 (logins) and defect 10. Five wrong passwords from one address locked the real
// user out from every address for 15 minutes; now logins are throttled per source address and per
// (address, user), never per user, and a user failing from many addresses is reported instead.
// Defect 10: 60 concurrent logins took RSS from 90 to 222 MB and p50 12.8 s; now at most
// --login-concurrency password hashes run at once and the rest are refused before any hashing.
//
// Sources are real loopback addresses (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to lo),
// bound as the client's local address, so the server sees them as the TCP peer.

/** One login from `source` (its own TCP connection, bound to that address). */
function login(
  server: RunningServer,
  source: string,
  username: string,
  password: string,
  path = '/v1/keys',
): Promise<Answer> {
  const payload = JSON.stringify({ username, password });
  return requestFrom(source, new URL(path, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    body: payload,
  });
}

const PASSWORD = 'correct horse battery staple';

// What these tests count is answers, not hashing time: a cheap scrypt cost (1 MiB instead of 32 MiB)
// keeps their ~40 password checks from costing ~5 s of CPU. The concurrency bound below keeps the
// default cost: it is about hashes slow enough to overlap.
const CHEAP_HASHING = { passwordHashing: { N: 1024 } };

async function addUser(server: RunningServer, name: string): Promise<void> {
  await server.services.keyService.createPrincipal({ name, kind: 'user', actor: 'test' });
  await server.services.keyService.setPassword(name, PASSWORD, { actor: 'test' });
}

describe('adversarial: login lockout (issue #11 defect 2) — /v1/keys and the django obtain endpoint', () => {
  let server: RunningServer;

  beforeAll(async () => {
    // Only 127.0.0.1 and ::1 are trusted proxies by default: each 127.0.x.y peer is its own source.
    server = await startInProcess({ schemes: 'rfc9421,django-hmac' }, {}, CHEAP_HASHING);
  });

  afterAll(async () => {
    await server?.close();
  });

  for (const path of ['/v1/keys', '/obtain-hmac-api-key/']) {
    it(`${path}: wrong passwords from one address block that address, never the user elsewhere`, async () => {
      const user = `alice-${path.length}`;
      await addUser(server, user);
      const attacker = path === '/v1/keys' ? '127.0.0.2' : '127.0.0.4';
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 8; attempt++) {
        statuses.push((await login(server, attacker, user, `guess-${attempt}`, path)).status);
      }
      // The attacker's address is slowed, then blocked (429 with Retry-After).
      expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
      expect(statuses).toContain(429);
      const blocked = await login(server, attacker, user, PASSWORD, path);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);

      // The real user, from another address, logs in at once (the old code answered 429 for 15 minutes).
      const owner = await login(server, path === '/v1/keys' ? '127.0.0.3' : '127.0.0.5', user, PASSWORD, path);
      expect(owner.status, JSON.stringify(owner.body)).toBe(path === '/v1/keys' ? 201 : 200);
    }, 60_000);
  }

  it('a user attacked from many addresses keeps logging in, and the attack is reported once', async () => {
    const user = 'bob-distributed';
    await addUser(server, user);
    const underAttack = async () =>
      (await server.metrics.underAttack.get()).values.find((value) => value.labels.kind === 'principal')?.value ?? 0;
    const before = await underAttack();
    // 12 addresses, two wrong passwords each (below any per-address block), interleaved with the
    // owner's logins from 127.0.1.1: every one of the owner's logins succeeds.
    for (let round = 0; round < 12; round++) {
      const source = `127.0.2.${round + 1}`;
      expect((await login(server, source, user, `guess-${round}`)).status).toBe(401);
      expect((await login(server, source, user, `again-${round}`)).status).toBe(401);
      if (round % 4 === 3) {
        const owner = await login(server, '127.0.1.1', user, PASSWORD);
        expect(owner.status, JSON.stringify(owner.body)).toBe(201);
      }
    }
    // Visible to an operator: one audit event and one metric increment for the whole attack.
    const events = await server.services.keyService.queryAudit({ types: ['principal.under_attack'] });
    const mine = events.filter((event) => event.principal === user);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.detail).toMatchObject({ knownPrincipal: true });
    expect(Number(mine[0]?.detail?.sources)).toBeGreaterThanOrEqual(5);
    expect((await underAttack()) - before).toBe(1);
  }, 120_000);
});

describe('adversarial: a key id attacked from many addresses is reported, never blocked (issue #11 defect 2)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('bad signatures naming one key from 12 addresses: the owner keeps working, one key.under_attack event', async () => {
    const owner = await issueKey(server, 'attacked-service');
    const forged = { keyId: owner.keyId, secret: `hks_${'A'.repeat(43)}` };
    const underAttack = async () =>
      (await server.metrics.underAttack.get()).values.find((value) => value.labels.kind === 'key')?.value ?? 0;
    const before = await underAttack();
    const ownerAddress = freshAddress();
    for (let round = 0; round < 12; round++) {
      const attacker = { 'x-forwarded-for': `198.51.100.${round + 1}` };
      for (let attempt = 0; attempt < 2; attempt++) {
        const answer = await send(await signed(forged, 'GET', `${server.url}/v1/whoami`), attacker);
        expect(answer.status).toBe(401);
      }
      const genuine = await send(await signed(owner, 'GET', `${server.url}/v1/whoami`), {
        'x-forwarded-for': ownerAddress,
      });
      expect(genuine.status, JSON.stringify(genuine.body)).toBe(200);
    }
    const events = await server.services.keyService.queryAudit({ types: ['key.under_attack'] });
    const mine = events.filter((event) => event.keyId === owner.keyId);
    expect(mine).toHaveLength(1);
    expect(Number(mine[0]?.detail?.sources)).toBeGreaterThanOrEqual(5);
    expect((await underAttack()) - before).toBe(1);
  }, 60_000);
});

describe('adversarial: concurrent logins are bounded before hashing (issue #11 defect 10)', () => {
  let server: RunningServer;
  let inFlight = 0;
  let maxInFlight = 0;
  let started = 0;
  const BOUND = 2;

  beforeAll(async () => {
    server = await startInProcess(
      { loginConcurrency: BOUND },
      {},
      {
        passwordHashHooks: {
          onStart() {
            started++;
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
          },
          onEnd() {
            inFlight--;
          },
        },
      },
    );
  });

  afterAll(async () => {
    await server?.close();
  });

  it('60 concurrent logins with distinct names: at most the bound hash at once, the rest get 503 + Retry-After', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, index) =>
        login(server, `127.0.3.${(index % 200) + 1}`, `nobody-${index}`, 'wrong password'),
      ),
    );
    const shed = answers.filter((answer) => answer.status === 503);
    const checked = answers.filter((answer) => answer.status === 401);
    expect(shed.length + checked.length).toBe(60);
    // No hash ever started beyond the bound, and only the logins that were not shed were hashed.
    expect(maxInFlight).toBeLessThanOrEqual(BOUND);
    expect(started).toBe(checked.length);
    expect(shed.length).toBeGreaterThanOrEqual(30);
    for (const answer of shed) {
      expect(answer.body.code).toBe('login_busy');
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    }
    const metric = await server.metrics.loginsShed.get();
    expect(metric.values[0]?.value).toBe(shed.length);
  }, 60_000);
});
