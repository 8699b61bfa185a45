/**
 * Adversarial (session 19 review, finding 1), through the gateway: a large body is streamed to the
 * upstream while its digest is computed, so the request is committed before its body is known
 * (`commitBeforeBody()`). On the previous code that commit cleared the (address, key) failure
 * record at once: a client with a valid signed head (captured or leaked: the nonce reservation is
 * released when the body fails, so the head can be sent again) and any body wiped the pair's
 * failures on every try, a side effect before the request was proven. Now the record is cleared
 * only once the digest matched; the failing body is counted like a wrong signature, and the
 * upstream never gets a complete request.
 */
import { randomBytes } from 'node:crypto';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { memoryLimitStores } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkedStream, startUpstream } from '../../../../test-support/upstream.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { spyThrottle } from '../support/spy-throttle.js';

describe('adversarial (review19): the streamed gateway body clears no failures before its digest matched', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  const spy = spyThrottle();

  beforeAll(async () => {
    upstream = await startUpstream();
    server = await startInProcess(
      { upstream: upstream.url, schemes: 'rfc9421', maxBody: '2mb' },
      {},
      { limitStores: { ...memoryLimitStores(), failureThrottle: spy.throttle } },
    );
    key = await issueKey(server, 'streamed-throttle');
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  it('a valid head with a tampered streamed body is a failure and clears nothing; the genuine body clears', async () => {
    const path = '/review19-streamed';
    const genuine = new Uint8Array(randomBytes(300 * 1024));
    const tampered = new Uint8Array(genuine);
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 0x01;
    const prepared = await signMessage(
      {
        method: 'POST',
        url: `${server.url}${path}`,
        headers: { 'content-type': 'application/octet-stream' },
        body: genuine,
      },
      { keyId: key.keyId, secret: key.secret, algorithm: 'sha256' },
    );
    const send = (bytes: Uint8Array) =>
      fetch(prepared.url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', ...prepared.headers },
        body: chunkedStream(bytes, 16 * 1024),
        duplex: 'half',
      } as RequestInit);

    // A forged request first: the (address, key) pair has a failure on record.
    const forged = await signMessage(
      { method: 'POST', url: `${server.url}${path}`, headers: {}, body: new Uint8Array(1) },
      { keyId: key.keyId, secret: `hks_${'A'.repeat(43)}`, algorithm: 'sha256' },
    );
    const refused = await fetch(forged.url, { method: 'POST', headers: forged.headers, body: new Uint8Array(1) });
    expect(refused.status).toBe(401);
    await refused.arrayBuffer();
    const pair = spy.writes.find((write) => write.startsWith('failure addr+name:'))?.slice('failure '.length);
    expect(pair, `the pair was recorded: ${spy.writes.join(', ')}`).toBeDefined();
    const address = spy.writes.find((write) => write.startsWith('failure addr:'))?.slice('failure '.length);

    // The attack, twice (the released reservation lets the head come again; with the forged
    // request that is the 3 failures the throttle lets through before any slowdown).
    for (let attempt = 0; attempt < 2; attempt++) {
      spy.writes.length = 0;
      const answer = await send(tampered);
      expect(answer.status).toBe(401);
      expect(((await answer.json()) as { code: string }).code).toBe('digest_mismatch');
      expect(spy.writes, `attempt ${attempt}`).toEqual([`failure ${address}`, `failure ${pair}`]);
    }
    expect(upstream.seen.filter((entry) => entry.url === path && entry.complete)).toHaveLength(0);

    // The genuine request: accepted, and only now is the pair cleared.
    spy.writes.length = 0;
    const accepted = await send(genuine);
    expect(accepted.status, await accepted.clone().text()).toBe(201);
    await accepted.arrayBuffer();
    expect(spy.writes).toEqual([`success ${pair}`]);
  });
});
