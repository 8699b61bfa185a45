/**
 * Adversarial (issue #11, defect 3): a body-tampered copy of a signed request, sent first, must not
 * burn the genuine request. Through `hmac-kit serve` in gateway mode with a real upstream, for the
 * buffered path (small bodies: the nonce is recorded in the commit stage after the body passed) and
 * the streaming path (large bodies: the nonce is reserved before the body flows upstream and
 * released when the digest fails). On the previous code the genuine request got 401 nonce_replayed.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type Scheme, signMessage, sigv4 } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { chunkedStream, startUpstream } from '../../../../test-support/upstream.js';

describe('adversarial: a tampered copy sent first, then the genuine request, through the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let gateway: ServeProcess;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'copy-first', []);
    upstream = await startUpstream();
    gateway = await startServe(
      ['--db', db, '--schemes', 'rfc9421,sigv4', '--upstream', upstream.url, '--max-body', '2mb'],
      {
        cwd: dir,
      },
    );
  });

  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
  });

  const cases: [string, () => Scheme | undefined, number][] = [
    ['rfc9421, buffered body', () => undefined, 2 * 1024],
    ['rfc9421, streamed body (nonce reserved, then released)', () => undefined, 300 * 1024],
    ['sigv4, buffered body', () => sigv4(), 2 * 1024],
    ['sigv4, streamed body (nonce reserved, then released)', () => sigv4(), 300 * 1024],
  ];

  for (const [name, schemeOf, size] of cases) {
    it(name, async () => {
      const path = `/copy-first-${name.replace(/\W+/g, '-')}`;
      const genuine = new Uint8Array(randomBytes(size));
      const tampered = new Uint8Array(genuine);
      tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 0x01;
      const scheme = schemeOf();
      const prepared = await signMessage(
        {
          method: 'POST',
          url: `${gateway.url}${path}`,
          headers: { 'content-type': 'application/octet-stream' },
          body: genuine,
        },
        key,
        scheme ? { scheme } : {},
      );
      const send = (bytes: Uint8Array) =>
        fetch(prepared.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/octet-stream',
            ...prepared.headers,
            'x-forwarded-for': freshAddress(),
          },
          body: size > 64 * 1024 ? chunkedStream(bytes, 16 * 1024) : bytes,
          duplex: 'half',
        } as RequestInit);

      const first = await send(tampered);
      expect(first.status).toBe(401);
      expect(((await first.json()) as { code: string }).code).toBe('digest_mismatch');

      const second = await send(genuine);
      expect(second.status, `genuine after the copy: ${await second.clone().text()}`).toBe(201);
      await second.arrayBuffer();
      const complete = upstream.seen.filter((entry) => entry.url === path && entry.complete);
      expect(complete).toHaveLength(1);

      // The genuine request, once accepted, is a replay.
      const third = await send(genuine);
      expect(third.status).toBe(401);
      expect(((await third.json()) as { code: string }).code).toBe('nonce_replayed');
    });
  }
});
