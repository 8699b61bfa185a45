/**
 * A key over its rate limit is a proven request refused for volume, not a failed authentication.
 * The console's window of failures per key and address (`activity.failures()`) must not show a
 * busy, correctly signing client as failing: an operator reads that window to find attacks and
 * broken clients. Before, every 429 `rate_limited` was counted there (and logged as
 * "authentication failed" at warn), so the busiest legitimate key topped the list. It is now
 * logged at info as "rate limited".
 * Failures after which the failure throttle refuses an address (`too_many_failures`) stay counted:
 * they are what the window is for.
 */
import { Writable } from 'node:stream';
import { createLogger, type RunningServer } from '@hmac-kit/server';
import { afterEach, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { forwardAuthCheck } from '../support/concurrent.js';
import { issueKey, startInProcess } from '../support/in-process.js';

describe('adversarial: rate-limited requests are not authentication failures', () => {
  const started: RunningServer[] = [];
  afterEach(async () => {
    for (const server of started.splice(0)) await server.close();
  });

  it('a key over its limit gets 429 and appears nowhere in the console failure window', async () => {
    const log: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        log.push(String(chunk));
        done();
      },
    });
    const server = await startInProcess(
      { schemes: 'rfc9421', rateLimit: '2/1h' },
      {},
      { logger: createLogger('info', sink) },
    );
    started.push(server);
    const key = await issueKey(server, 'busy-client');
    const address = freshAddress();

    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const check = await forwardAuthCheck(key, address);
      const answer = await fetch(`${server.url}${check.path}`, { headers: check.headers });
      const body = await answer.text();
      statuses.push(answer.status);
      if (answer.status === 429) expect(JSON.parse(body).code).toBe('rate_limited');
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(server.services.activity.failures().total).toBe(0);
    // Logged at info as what it is, with the key id, not as a failed authentication at warn.
    const lines = log.map((line) => JSON.parse(line) as { level: string; msg: string; keyId?: string; code?: string });
    expect(lines.filter((line) => line.msg === 'authentication failed')).toEqual([]);
    const limited = lines.filter((line) => line.msg === 'rate limited');
    expect(limited.map((line) => [line.level, line.code, line.keyId])).toEqual([
      ['info', 'ERR_RATE_LIMITED', key.keyId],
      ['info', 'ERR_RATE_LIMITED', key.keyId],
    ]);
  });

  it('a wrong signature is still counted (the window is not simply switched off)', async () => {
    const server = await startInProcess({ schemes: 'rfc9421' });
    started.push(server);
    const key = await issueKey(server, 'wrong-secret');
    const check = await forwardAuthCheck(
      { keyId: key.keyId, secret: `hks_${Buffer.alloc(32, 7).toString('base64url')}` },
      freshAddress(),
    );
    const answer = await fetch(`${server.url}${check.path}`, { headers: check.headers });
    expect(answer.status).toBe(401);
    expect(server.services.activity.failures().total).toBe(1);
  });
});
