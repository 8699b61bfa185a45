/**
 * Review 12: the failure throttle's in-flight bound (packages/middleware/src/failure-tally.ts) for the
 * schemes whose MAC is decided in the body stage (X-API, django-hmac, webhooks, SigV4 without a
 * payload hash). The re-check (`beforeMac`) runs after the key lookup, before the head's stage; for
 * these schemes the MAC is only compared when the body stage ends, so every forged request in
 * flight together (pipelined) passed the re-check before the first of them failed: 10 x 10
 * pipelined forged X-API requests of one address and key id reached the signature check 5 times
 * with `--workers 1` and 40 with `--workers 2`, where one at a time reaches it 4 times per process
 * (throttle-in-flight.test.ts covers header-signed RFC 9421). Now 4 and 8: the re-check runs again
 * right before the body stage decides the MAC. Counted from the answers: 401 `signature_invalid` reached the check, 429
 * `too_many_failures` was refused before it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { pipelinedExchange } from '../support/pipelined.js';
import { startRawUpstream } from '../support/raw-http.js';

/**
 * What one subject reaches the check with, one at a time, within `seconds` (as in
 * throttle-in-flight.test.ts): 3 free failures, the 4th, then one more after 1 s, 3 s, 7 s...
 */
function sequentialWithin(seconds: number): number {
  return 4 + Math.floor(Math.log2(seconds + 1));
}

for (const workers of [1, 2]) {
  describe(`review12: forged body-signed requests in flight together (serve --workers ${workers})`, () => {
    let server: ServeProcess;
    let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
    let keyId: string;

    beforeAll(async () => {
      buildOnce();
      upstream = await startRawUpstream(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      const dir = tempDir();
      const db = join(dir, 'hmac-kit.db');
      keyId = (await createKeyWithCli(db, 'svc')).keyId;
      server = await startServe(
        ['--db', db, '--workers', String(workers), '--upstream', upstream.url, '--schemes', 'x-api'],
        { cwd: dir },
      );
    });

    afterAll(async () => {
      await server?.stop();
      await upstream?.close();
    });

    function forged(address: string) {
      return {
        'content-type': 'application/json',
        'x-api-key': keyId,
        'x-api-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-api-nonce': randomBytes(16).toString('hex'),
        'x-api-signature': randomBytes(32).toString('hex'),
        'x-forwarded-for': address,
      };
    }

    it('10 x 10 pipelined forged X-API requests: no more reach the signature check than one at a time', async () => {
      const address = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
      const url = new URL(server.url);
      const started = performance.now();
      const answers = (
        await Promise.all(
          Array.from({ length: 10 }, () =>
            pipelinedExchange(
              url,
              Array.from({ length: 10 }, () => ({
                method: 'POST',
                path: '/items',
                headers: forged(address),
                body: '{"n":1}',
              })),
            ),
          ),
        )
      ).flat();
      const reached = answers.filter((answer) => answer.status === 401 && answer.code === 'signature_invalid').length;
      const refused = answers.filter((answer) => answer.status === 429 && answer.code === 'too_many_failures').length;
      console.log(`workers ${workers}, x-api 10 x 10: reached ${reached}, refused ${refused}`);
      expect(reached + refused).toBe(100);
      expect(reached).toBeLessThanOrEqual(workers * sequentialWithin((performance.now() - started) / 1000));
    });
  });
}
