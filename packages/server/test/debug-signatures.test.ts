/**
 * `hmac-kit serve --debug-signatures` (issue #12, mismatch diagnostics), through the server:
 * - off by default; `true` refused at start on a non-loopback bind (one line), `force` allowed;
 * - API mode, gateway mode and forward-auth answer a `signature_invalid` with the server's
 *   signature base, the same status and code as without it;
 * - the body never holds the secret or the expected signature;
 * - an unknown key id gets the very same body as a wrong signature for a known key id;
 * - the side effects (failure throttle, nonce, rate limit) are the same with and without it.
 */
import { createHmac } from 'node:crypto';
import { ConfigError, isLoopbackHost, loadConfig, type RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { runCli, startServe, tempDir } from '../../../test-support/processes.js';
import { startUpstream } from '../../../test-support/upstream.js';
import { issueKey, startInProcess } from './support/in-process.js';

type Key = { keyId: string; secret: string };

describe('debug signatures: configuration', () => {
  it('is off by default', () => {
    expect(loadConfig({}).debugSignatures).toBe(false);
    expect(loadConfig({ flags: { host: '0.0.0.0' } }).debugSignatures).toBe(false);
  });

  it('is refused on a non-loopback bind unless forced, in one line', () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.com']) {
      expect(() => loadConfig({ flags: { host, debugSignatures: true } })).toThrow(ConfigError);
      try {
        loadConfig({ flags: { host, debugSignatures: 'true' } });
      } catch (error) {
        expect((error as Error).message).toMatch(/^debug signatures refused on host .* \(not loopback\).*force/);
        expect((error as Error).message).not.toContain('\n');
      }
    }
    expect(loadConfig({ flags: { host: '0.0.0.0', debugSignatures: 'force' } }).debugSignatures).toBe('force');
    expect(loadConfig({ env: { HMAC_KIT_HOST: '0.0.0.0', HMAC_KIT_DEBUG_SIGNATURES: 'force' } }).debugSignatures).toBe(
      'force',
    );
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host)).toBe(true);
      expect(loadConfig({ flags: { host, debugSignatures: true } }).debugSignatures).toBe(true);
    }
    expect(() => loadConfig({ flags: { debugSignatures: 'maybe' } })).toThrow(/use true, false or force/);
  });

  it('the real command refuses to start on 0.0.0.0 without force, and says why in one line', async () => {
    const dir = tempDir('hmac-kit-debugsig-');
    const refused = await runCli(['--db', `${dir}/db.sqlite`, 'serve', '--host', '0.0.0.0', '--debug-signatures']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/debug signatures refused on host 0\.0\.0\.0 \(not loopback\)/);
    // Forced, it starts, and says so at start.
    const forced = await startServe(['--db', `${dir}/db.sqlite`, '--host', '0.0.0.0', '--debug-signatures=force']);
    try {
      const warning = forced.logs.find((line) => String(line.msg).startsWith('debug signatures on'));
      expect(warning).toMatchObject({ level: 'warn', host: '0.0.0.0', forced: true });
    } finally {
      await forced.stop();
    }
  });
});

/** Every spelling of bytes someone could look for. */
function spellings(bytes: Buffer): string[] {
  return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
}

/** The body without the per-request id, to compare two answers. */
function shape(body: Record<string, unknown>): Record<string, unknown> {
  const { instance: _instance, ...rest } = body;
  return rest;
}

describe('debug signatures: API mode, gateway and forward-auth', () => {
  let api: RunningServer;
  let gateway: RunningServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiKey: Key;
  let gatewayKey: Key;

  beforeAll(async () => {
    upstream = await startUpstream();
    api = await startInProcess({ debugSignatures: true });
    gateway = await startInProcess({ debugSignatures: true, upstream: upstream.url });
    apiKey = await issueKey(api, 'debug-api');
    gatewayKey = await issueKey(gateway, 'debug-gw');
  });

  afterAll(async () => {
    await api?.close();
    await gateway?.close();
    await upstream?.close();
  });

  it('API mode: a wrong signature gets the base; never the secret, the expected MAC or the HMAC of the base', async () => {
    const url = `${api.url}/v1/whoami`;
    const wrong = { keyId: apiKey.keyId, secret: `hks_${Buffer.alloc(32, 7).toString('base64url')}` };
    const request = await signed(wrong, 'GET', url, { nonce: 'nonce-debug-api-1' });
    const answer = await send(request, { 'x-forwarded-for': freshAddress() });
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('signature_invalid');
    const report = answer.body.signature_base as { scheme: string; sections: { name: string; text: string }[] };
    expect(report.scheme).toBe('rfc9421');
    const base = report.sections[0]!.text;
    expect(base.split('\n')[0]).toBe('"@method": GET');
    expect(base).toContain(`keyid="${apiKey.keyId}"`);

    const json = JSON.stringify(answer.body);
    expect(json).not.toContain(apiKey.secret);
    expect(json).not.toContain(apiKey.secret.slice(4));
    // The signature a holder of the real secret would send for this very request.
    const genuine = await signed(apiKey, 'GET', url, { nonce: 'nonce-debug-api-1', now: () => createdOf(base) });
    const expected = /:([A-Za-z0-9+/=]+):/.exec(genuine.init.headers.Signature ?? genuine.init.headers.signature!)![1]!;
    for (const spelling of spellings(Buffer.from(expected, 'base64'))) expect(json).not.toContain(spelling);
    const secretBytes = Buffer.from(apiKey.secret.slice(4), 'base64url');
    for (const spelling of spellings(secretBytes)) expect(json).not.toContain(spelling);
    for (const algorithm of ['sha256', 'sha384', 'sha512']) {
      const mac = createHmac(algorithm, secretBytes).update(base, 'latin1').digest();
      for (const spelling of spellings(mac)) expect(json).not.toContain(spelling);
    }
    // The genuine request is that MAC: it is accepted (the failure spent nothing, not even its nonce).
    const accepted = await send(genuine, { 'x-forwarded-for': freshAddress() });
    expect(accepted.status).toBe(200);
  });

  it('API mode: an unknown key id gets the same answer as a wrong signature for a known one', async () => {
    const url = `${api.url}/v1/whoami`;
    const bogusSecret = `hks_${Buffer.alloc(32, 9).toString('base64url')}`;
    const now = () => 1_767_225_600;
    const known = await send(await signed({ keyId: apiKey.keyId, secret: bogusSecret }, 'GET', url, { now }), {
      'x-forwarded-for': freshAddress(),
    });
    // The same request, byte for byte (same nonce and time), for a key id that does not exist.
    const unknownRequest = await signed({ keyId: 'hk_doesNotExist000000000', secret: bogusSecret }, 'GET', url, {
      now,
    });
    const unknown = await send(unknownRequest, { 'x-forwarded-for': freshAddress() });
    expect(unknown.status).toBe(known.status);
    expect(Object.keys(unknown.body).sort()).toEqual(Object.keys(known.body).sort());
    const knownBase = (known.body.signature_base as { sections: { text: string }[] }).sections[0]!.text;
    const unknownBase = (unknown.body.signature_base as { sections: { text: string }[] }).sections[0]!.text;
    // Only the parts the requests themselves differ in (the key id and nonce they carry) differ.
    const normalise = (text: string) => text.replace(/keyid="[^"]*"/, 'keyid=K').replace(/nonce="[^"]*"/, 'nonce=N');
    expect(normalise(unknownBase)).toBe(normalise(knownBase));
    expect(shape({ ...unknown.body, signature_base: undefined })).toEqual(
      shape({ ...known.body, signature_base: undefined }),
    );
  });

  it('API mode: the very same request answers the same byte for byte before and after its key is revoked', async () => {
    const key = await issueKey(api, 'debug-revoked');
    const request = await signed(
      { keyId: key.keyId, secret: `hks_${Buffer.alloc(32, 4).toString('base64url')}` },
      'GET',
      `${api.url}/v1/whoami`,
    );
    const address = freshAddress();
    const whileKnown = await send(request, { 'x-forwarded-for': address });
    await api.services.keyService.revokeKey(key.keyId, { actor: 'test' });
    const afterRevoked = await send(request, { 'x-forwarded-for': address });
    expect(whileKnown.status).toBe(401);
    expect(whileKnown.body.signature_base).toBeDefined();
    expect(shape(afterRevoked.body)).toEqual(shape(whileKnown.body));
  });

  it('gateway: a header changed in transit shows in the base; the upstream never sees the request', async () => {
    const url = `${gateway.url}/orders`;
    const request = await signed(gatewayKey, 'POST', url, {
      body: '{"amount":5}',
      headers: { 'x-tenant': 'acme' },
    });
    // Sign x-tenant too: re-sign covering it.
    const { signMessage } = await import('@hmac-kit/core');
    const covered = await signMessage(
      {
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', 'x-tenant': 'acme' },
        body: '{"amount":5}',
      },
      gatewayKey,
      { coveredHeaders: ['x-tenant'] },
    );
    const seenBefore = upstream.seen.length;
    const answer = await send(
      {
        url,
        init: {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-tenant': 'evil', ...covered.headers },
          body: '{"amount":5}',
        },
      },
      { 'x-forwarded-for': freshAddress() },
    );
    expect(request.url).toBe(url);
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('signature_invalid');
    const base = (answer.body.signature_base as { sections: { text: string }[] }).sections[0]!.text;
    expect(base).toContain('"x-tenant": evil');
    expect(upstream.seen.length).toBe(seenBefore);
  });

  it('forward-auth: the verify endpoint answers with the base too', async () => {
    const wrong = { keyId: apiKey.keyId, secret: `hks_${Buffer.alloc(32, 5).toString('base64url')}` };
    const request = await signed(wrong, 'GET', `${api.url}/orders/7`);
    const response = await fetch(`${api.url}/verify`, {
      headers: {
        ...request.init.headers,
        'x-original-method': 'GET',
        'x-original-uri': '/orders/7',
        'x-forwarded-for': freshAddress(),
      },
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { code: string; signature_base: { sections: { text: string }[] } };
    expect(body.code).toBe('signature_invalid');
    expect(body.signature_base.sections[0]!.text).toContain('"@path": /orders/7');
  });
});

describe('debug signatures change no side effect', () => {
  const servers: RunningServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  /** What a source sees while it keeps failing, then what its genuine request gets. */
  async function sequence(debugSignatures: boolean) {
    const server = await startInProcess({ debugSignatures, rateLimit: '3/1m' });
    servers.push(server);
    const key = await issueKey(server, 'side-effects');
    const address = freshAddress();
    const url = `${server.url}/v1/whoami`;
    const wrong = { keyId: key.keyId, secret: `hks_${Buffer.alloc(32, 3).toString('base64url')}` };
    const statuses: string[] = [];
    for (let attempt = 0; attempt < 12; attempt++) {
      const answer = await send(await signed(wrong, 'GET', url), { 'x-forwarded-for': address });
      statuses.push(`${answer.status} ${answer.body.code}`);
    }
    // Another source: a failure carrying the genuine request's nonce does not burn it, and no
    // refused request was charged to the key's rate limit.
    const other = freshAddress();
    const refused = await send(await signed(wrong, 'GET', url, { nonce: 'side-effect-nonce-1' }), {
      'x-forwarded-for': other,
    });
    statuses.push(`${refused.status} ${refused.body.code}`);
    const genuine = await send(await signed(key, 'GET', url, { nonce: 'side-effect-nonce-1' }), {
      'x-forwarded-for': other,
    });
    statuses.push(
      `${genuine.status} remaining=${genuine.headers.get('ratelimit') ?? genuine.headers.get('ratelimit-remaining')}`,
    );
    const replay = await send(await signed(key, 'GET', url, { nonce: 'side-effect-nonce-1' }), {
      'x-forwarded-for': other,
    });
    statuses.push(`${replay.status} ${replay.body.code}`);
    return statuses;
  }

  it('throttle, nonce and rate limit behave exactly as without debug signatures', async () => {
    // The throttle's one-second slowdown after the free failures is a clock: on a loaded machine a
    // request may arrive after it ran out in one sequence and before in the other. A difference that
    // debug signatures caused would show in every pair; one caused by timing goes away: three pairs.
    let withDebug: string[] = [];
    let withoutDebug: string[] = [];
    for (let pair = 0; pair < 3; pair++) {
      withDebug = await sequence(true);
      withoutDebug = await sequence(false);
      if (JSON.stringify(withDebug) === JSON.stringify(withoutDebug)) break;
    }
    expect(withDebug).toEqual(withoutDebug);
    // The sequence itself is the protections at work: failures until the source is blocked.
    expect(withDebug).toContain('429 too_many_failures');
    expect(withDebug.at(-2)).toMatch(/^200 /);
    expect(withDebug.at(-1)).toBe('401 nonce_replayed');
  });
});

/** `created=` of an RFC 9421 base. */
function createdOf(base: string): number {
  return Number(/;created=(\d+)/.exec(base)![1]);
}
