import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../../test-support/cli-client.js';
import { type Answer, requestFrom } from '../support/from-address.js';
import { issueKey, startInProcess } from '../support/in-process.js';

// Adversarial review of issue #11 (helper "review"): attacks tried against `hmac-kit serve` in API
// mode with the project's own signer. Each test asserts the SAFE behaviour; a passing test documents
// a protection that holds.
//
// Sources are real loopback addresses (127.0.0.2, 127.0.0.3, ...; Linux routes all of 127/8 to lo),
// bound as the client's local address, so the server sees them as the TCP peer. By default only
// 127.0.0.1 and ::1 are trusted proxies, so any other 127.x peer is an untrusted client.

/** Sends a prepared signed request from `source` on its own TCP connection. */
function sendFrom(
  source: string,
  prepared: Awaited<ReturnType<typeof signed>>,
  extraHeaders: Record<string, string> = {},
): Promise<Answer> {
  const body = typeof prepared.init.body === 'string' ? prepared.init.body : undefined;
  return requestFrom(source, prepared.url, {
    method: prepared.init.method ?? 'GET',
    headers: {
      ...(prepared.init.headers as Record<string, string>),
      ...extraHeaders,
      ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}),
    },
    body,
  });
}

/** A secret of the right shape that is not the key's: a forged signature naming a real key id. */
const WRONG_SECRET = `hks_${'A'.repeat(43)}`;

describe('adversarial review: lockout of others through spoofed client addresses (issue #11 defect 2)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('an untrusted peer naming the victim address in X-Forwarded-For does not get the victim blocked', async () => {
    const owner = await issueKey(server, 'xff-victim');
    const forged = { keyId: owner.keyId, secret: WRONG_SECRET };
    const attacker = '127.0.3.2';
    const victim = '127.0.3.3';
    const statuses: number[] = [];
    // Far past any per-address block: if the server believed the header from an untrusted peer,
    // the victim's address (and (address, key)) would now be blocked.
    for (let attempt = 0; attempt < 15; attempt++) {
      const answer = await sendFrom(attacker, await signed(forged, 'GET', `${server.url}/v1/whoami`), {
        'x-forwarded-for': victim,
      });
      statuses.push(answer.status);
    }
    expect(statuses).toContain(429); // the attacker's own address is blocked
    const genuine = await sendFrom(victim, await signed(owner, 'GET', `${server.url}/v1/whoami`));
    expect(genuine.status, JSON.stringify(genuine.body)).toBe(200);
  }, 60_000);

  it('a client behind the trusted proxy cannot put the victim address first in X-Forwarded-For', async () => {
    const owner = await issueKey(server, 'xff-leftmost');
    const forged = { keyId: owner.keyId, secret: WRONG_SECRET };
    const victim = freshAddress();
    const attacker = freshAddress();
    // The trusted proxy (127.0.0.1) appends the attacker's real address after whatever it sent.
    for (let attempt = 0; attempt < 15; attempt++) {
      await send(await signed(forged, 'GET', `${server.url}/v1/whoami`), {
        'x-forwarded-for': `${victim}, ${attacker}`,
      });
    }
    const blocked = await send(await signed(owner, 'GET', `${server.url}/v1/whoami`), {
      'x-forwarded-for': attacker,
    });
    expect(blocked.status).toBe(429);
    const genuine = await send(await signed(owner, 'GET', `${server.url}/v1/whoami`), { 'x-forwarded-for': victim });
    expect(genuine.status, JSON.stringify(genuine.body)).toBe(200);
  }, 60_000);
});

describe('adversarial review: no side effect before proof (issue #11 "commit" stage)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess();
  });

  afterAll(async () => {
    await server?.close();
  });

  it("forged requests naming a key never spend that key's rate limit", async () => {
    await server.services.keyService.createPrincipal({ name: 'metered', kind: 'service', actor: 'test' });
    const issued = await server.services.keyService.createKey({
      principal: 'metered',
      rateLimit: { limit: 3, windowSeconds: 3600 },
      actor: 'test',
    });
    const owner = { keyId: issued.key.keyId, secret: issued.secret };
    const forged = { keyId: owner.keyId, secret: WRONG_SECRET };
    // 20 forgeries from 20 addresses (two each, below any per-address block).
    for (let source = 0; source < 10; source++) {
      const from = { 'x-forwarded-for': freshAddress() };
      for (let attempt = 0; attempt < 2; attempt++) {
        expect((await send(await signed(forged, 'GET', `${server.url}/v1/whoami`), from)).status).toBe(401);
      }
    }
    // The owner still has the whole quota (3), then is limited.
    const ownerAddress = { 'x-forwarded-for': freshAddress() };
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      statuses.push((await send(await signed(owner, 'GET', `${server.url}/v1/whoami`), ownerAddress)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  }, 60_000);

  it('a copy of a genuine request with a forged signature and the same nonce does not burn the nonce', async () => {
    const owner = await issueKey(server, 'nonce-owner');
    const genuine = await signed(owner, 'GET', `${server.url}/v1/whoami`);
    // The attacker sees the request on the wire and races it with a broken signature value.
    const tampered = structuredClone(genuine);
    const signatureHeader = Object.keys(tampered.init.headers).find((name) => name.toLowerCase() === 'signature');
    expect(signatureHeader).toBeDefined();
    const value = tampered.init.headers[signatureHeader as string] as string;
    tampered.init.headers[signatureHeader as string] = value.replace(/:([A-Za-z0-9+/])/, (_all, first: string) =>
      first === 'A' ? ':B' : ':A',
    );
    const address = { 'x-forwarded-for': freshAddress() };
    expect((await send(tampered, address)).status).toBe(401);
    const answer = await send(genuine, address);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    // And the genuine request is then single-use.
    expect((await send(genuine, address)).body.code).toBe('nonce_replayed');
  }, 60_000);
});

describe('adversarial review: one answer for every key-related failure through the server (issue #11 defect 7)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess();
  });

  afterAll(async () => {
    await server?.close();
  });

  /** What a client can tell apart: status, problem fields, header names and the auth challenge. */
  function observable(answer: Answer) {
    const varying = new Set(['date', 'x-request-id', 'content-length', 'traceparent', 'keep-alive', 'connection']);
    const { instance: _instance, detail: _detail, requestId: _requestId, ...problem } = answer.body;
    return {
      status: answer.status,
      problem,
      headerNames: Object.keys(answer.headers)
        .filter((name) => !varying.has(name))
        .sort(),
      challenge: answer.headers['www-authenticate'],
      retryAfter: answer.headers['retry-after'],
    };
  }

  it('unknown, revoked, expired and wrong-signature keys answer alike', async () => {
    const live = await issueKey(server, 'oracle-live');
    const revoked = await issueKey(server, 'oracle-revoked');
    await server.services.keyService.revokeKey(revoked.keyId, { actor: 'test' });
    await server.services.keyService.createPrincipal({ name: 'oracle-expired', kind: 'service', actor: 'test' });
    const expiring = await server.services.keyService.createKey({
      principal: 'oracle-expired',
      expiresInSeconds: 1,
      actor: 'test',
    });
    const expired = { keyId: expiring.key.keyId, secret: expiring.secret };
    // A well-shaped key id that does not exist: the live one with its last character changed.
    const last = live.keyId.at(-1) === 'a' ? 'b' : 'a';
    const unknown = { keyId: `${live.keyId.slice(0, -1)}${last}`, secret: live.secret };
    const expiresAt = expiring.key.expiresAt?.getTime() ?? 0;
    await expect.poll(() => Date.now() > expiresAt + 50, { timeout: 10_000, interval: 50 }).toBe(true);

    const cases = {
      wrongSignature: { keyId: live.keyId, secret: WRONG_SECRET },
      unknown,
      revoked,
      expired,
    };
    const seen: Record<string, ReturnType<typeof observable>> = {};
    for (const [name, key] of Object.entries(cases)) {
      // Each from its own address so no throttle state differs between the cases.
      const answer = await send(await signed(key, 'GET', `${server.url}/v1/whoami`), {
        'x-forwarded-for': freshAddress(),
      });
      seen[name] = observable({
        status: answer.status,
        headers: Object.fromEntries(answer.headers.entries()),
        body: answer.body,
      });
    }
    expect(seen.wrongSignature?.status).toBe(401);
    expect(seen.unknown).toEqual(seen.wrongSignature);
    expect(seen.revoked).toEqual(seen.wrongSignature);
    expect(seen.expired).toEqual(seen.wrongSignature);
  }, 60_000);
});
