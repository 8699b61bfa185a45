/**
 * A key's `lastUsedAt` is what an operator reads to find unused keys to revoke. It used to be
 * written when the key was looked up, before anything was proven: anyone who knows a key id (ids
 * are not secret) could keep a stolen-but-abandoned key looking alive with forged signatures, and a
 * body failing its digest moved it too. Through a real `hmac-kit serve` (gateway and forward-auth):
 * attacks on two never-used keys, then a genuine request for a third key whose last use is awaited —
 * the write that carries it would carry any last use the attacks caused — and the attacked keys must
 * still read "never used"; their genuine requests then set it. (Replays and rate-limited requests
 * need a genuine use first, after which the server writes last use once a minute at most: the
 * library-level test, packages/middleware/test/last-used.test.ts, covers them with a short interval.)
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { signMessage, xApi } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../../test-support/cli-client.js';
import {
  buildOnce,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../../test-support/processes.js';
import { chunkedStream, startUpstream } from '../../../../test-support/upstream.js';

const publicOrigin = 'https://api.example.com';

interface KeyView {
  keyId: string;
  lastUsedAt: string | null;
}

describe('hmac-kit serve: a key’s lastUsedAt moves for proven requests only', () => {
  let dir: string;
  let db: string;
  let gatewayVictim: IssuedKey;
  let forwardVictim: IssuedKey;
  let sentinel: IssuedKey;
  let admin: IssuedKey;
  let server: ServeProcess | undefined;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'keys.db');
    gatewayVictim = await createKeyWithCli(db, 'lu-gateway');
    forwardVictim = await createKeyWithCli(db, 'lu-forward');
    sentinel = await createKeyWithCli(db, 'lu-sentinel');
    admin = await createKeyWithCli(db, 'root', ['--scope', 'admin']);
    upstream = await startUpstream();
    server = await startServe(
      ['--db', db, '--upstream', upstream.url, '--public-origin', publicOrigin, '--schemes', 'rfc9421,x-api'],
      { cwd: dir },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  /** Sends to the gateway what was signed for the public origin, from a fresh client address. */
  const send = (
    signed: { url: string; headers: Record<string, string> },
    init: { method?: string; body?: BodyInit; duplex?: 'half'; headers?: Record<string, string> } = {},
  ) =>
    fetch(signed.url.replace(publicOrigin, server!.url), {
      ...init,
      headers: { ...init.headers, ...signed.headers, 'x-forwarded-for': freshAddress() },
    } as RequestInit);

  /** Asks forward-auth about a request the proxy holds (its body stays with the proxy). */
  const verify = (headers: Record<string, string>, original: Record<string, string>) =>
    fetch(`${server!.url}/_hmac-kit/verify`, {
      headers: { ...headers, ...original, 'x-forwarded-for': freshAddress() },
    });

  const lastUsedOf = async (key: IssuedKey): Promise<string | null> => {
    const signed = await signMessage(
      { method: 'GET', url: `${publicOrigin}/_hmac-kit/v1/admin/keys?keyId=${key.keyId}`, headers: {} },
      admin,
    );
    const response = await send(signed);
    expect(response.status).toBe(200);
    const [view] = (await response.json()) as KeyView[];
    expect(view?.keyId).toBe(key.keyId);
    return view!.lastUsedAt;
  };

  it('forged signatures and tampered bodies for known key ids leave lastUsedAt alone; genuine requests set it', async () => {
    const url = `${publicOrigin}/orders`;
    const body = '{"order":1}';
    const json = { 'content-type': 'application/json' };

    // Gateway. A forged signature for the victim's (public) key id.
    const forged = await signMessage({ method: 'GET', url, headers: {} }, { ...gatewayVictim, secret: admin.secret });
    expect((await send(forged)).status).toBe(401);
    // A genuine signature sent with another body: the MAC passes, the Content-Digest does not.
    const genuinePost = await signMessage({ method: 'POST', url, headers: json, body }, gatewayVictim);
    expect((await send(genuinePost, { method: 'POST', headers: json, body: '{"order":2}' })).status).toBe(401);
    // X-API-* signs the body itself: the tampered copy fails in the body stage.
    const xapi = await signMessage({ method: 'POST', url, headers: json, body }, gatewayVictim, { scheme: xApi() });
    expect((await send(xapi, { method: 'POST', headers: json, body: '{"order":3}' })).status).toBe(401);
    // A streamed body: the gateway commits before the body (the nonce held as a reservation), then
    // the digest fails at the end. Committed is not proven.
    const signedBytes = new Uint8Array(randomBytes(400 * 1024));
    const sentBytes = new Uint8Array(signedBytes);
    sentBytes[sentBytes.length - 1] = (sentBytes.at(-1) ?? 0) ^ 0xff;
    const octets = { 'content-type': 'application/octet-stream' };
    const streamed = await signMessage({ method: 'POST', url, headers: octets, body: signedBytes }, gatewayVictim);
    const cut = await send(streamed, {
      method: 'POST',
      headers: octets,
      body: chunkedStream(sentBytes, 16 * 1024),
      duplex: 'half',
    });
    expect(cut.status).toBe(401);

    // Forward-auth. A forged signature, and an X-API-* signature over a body forward-auth never sees.
    const original = { 'x-original-method': 'POST', 'x-original-uri': '/orders', 'x-original-content-length': '11' };
    const forgedForward = await signMessage(
      { method: 'POST', url, headers: json, body },
      { ...forwardVictim, secret: admin.secret },
    );
    expect((await verify(forgedForward.headers, original)).status).toBe(401);
    const unprovable = await signMessage({ method: 'POST', url, headers: json, body }, forwardVictim, {
      scheme: xApi(),
    });
    expect((await verify(unprovable.headers, original)).status).toBe(401);

    // A proven request for the sentinel key, and its last use awaited: written in the same batch as,
    // or a later one than, any last use the attacks above caused.
    const proven = await signMessage({ method: 'GET', url, headers: {} }, sentinel);
    expect((await send(proven)).status).toBe(201);
    await vi.waitFor(async () => expect(await lastUsedOf(sentinel)).not.toBeNull(), {
      timeout: 30_000,
      interval: 100,
    });
    expect(await lastUsedOf(gatewayVictim)).toBeNull();
    expect(await lastUsedOf(forwardVictim)).toBeNull();

    // The genuine requests: the gateway's (the body it was signed with) and forward-auth's (headers
    // proven, the Content-Digest left to the upstream: commitBeforeBody is forward-auth's last stage).
    expect((await send(genuinePost, { method: 'POST', headers: json, body })).status).toBe(201);
    const genuineForward = await signMessage({ method: 'POST', url, headers: json, body }, forwardVictim);
    expect((await verify(genuineForward.headers, original)).status).toBe(200);
    await vi.waitFor(
      async () => {
        expect(await lastUsedOf(gatewayVictim)).not.toBeNull();
        expect(await lastUsedOf(forwardVictim)).not.toBeNull();
      },
      { timeout: 30_000, interval: 100 },
    );

    // What `hmac-kit keys list --json` shows the operator (read while the server runs).
    const listed = await runCliInProcess(['--db', db, '--json', 'keys', 'list', '--principal', 'lu-gateway'], {
      cwd: dir,
    });
    expect(listed.code, listed.stderr).toBe(0);
    const keys = JSON.parse(listed.stdout) as KeyView[];
    expect(keys.map((key) => [key.keyId, typeof key.lastUsedAt])).toEqual([[gatewayVictim.keyId, 'string']]);
  });
});
