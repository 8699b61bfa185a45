/**
 * Adversarial (session 19 review, finding 2): a client the failure throttle already blocks is
 * refused `too_many_failures` before any key is looked up, whatever key id it names. On the
 * previous code each such refusal counted against the named key: in the console's failure window
 * (per key) and in the "key under attack" watch (20 failures from 5 addresses). Blocked addresses
 * cost nothing to the attacker, so a handful of them could paint any key as under attack (an audit
 * entry, a warn log, a metric) and push the real failures out of the per-key table. A throttled
 * refusal is now attributed to its address only (the key was never tried): the key is not painted,
 * and the attacker's address still shows, with every refusal counted.
 */
import { Writable } from 'node:stream';
import { memoryFailureThrottle } from '@hmac-kit/limits';
import { createLogger, memoryLimitStores, type RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { until } from '../../../../test-support/wait.js';
import { forwardAuthCheck } from '../support/concurrent.js';
import { issueKey, startInProcess } from '../support/in-process.js';

/** A secret of the right shape that is nobody's: forged signatures. */
const WRONG_SECRET = `hks_${'B'.repeat(43)}`;

describe('adversarial (review19): a throttled refusal counts against its address, not the key it names', () => {
  let server: RunningServer;
  const log: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        log.push(String(chunk));
        done();
      },
    });
    server = await startInProcess(
      { schemes: 'rfc9421' },
      {},
      {
        logger: createLogger('info', sink),
        // One failure blocks an address for 5 minutes: the attacker's addresses are blocked at once.
        limitStores: {
          ...memoryLimitStores(),
          failureThrottle: memoryFailureThrottle({ freeFailures: 0, maxFailures: 1, blockSeconds: 300 }),
        },
      },
    );
  });

  afterAll(async () => {
    await server?.close();
  });

  async function check(signer: { keyId: string; secret: string }, address: string): Promise<string> {
    const request = await forwardAuthCheck(signer, address);
    const answer = await fetch(`${server.url}${request.path}`, { headers: request.headers });
    const text = await answer.text();
    return `${answer.status} ${answer.status === 200 ? '' : (JSON.parse(text) as { code: string }).code}`.trim();
  }

  it('blocked addresses naming a victim key neither paint it nor report it under attack', async () => {
    const victim = await issueKey(server, 'victim-of-painting');
    const attacker = await issueKey(server, 'attacker-own');
    const addresses = Array.from({ length: 6 }, () => freshAddress());
    // Each address fails once with its own key id: blocked.
    for (const address of addresses) {
      expect(await check({ keyId: attacker.keyId, secret: WRONG_SECRET }, address)).toBe('401 signature_invalid');
    }
    // Then names the victim key, 5 times each: 30 refusals from 6 addresses (the watch's
    // threshold is 20 failures from 5 addresses).
    for (const address of addresses) {
      for (let attempt = 0; attempt < 5; attempt++) {
        expect(await check({ keyId: victim.keyId, secret: WRONG_SECRET }, address)).toBe('429 too_many_failures');
      }
    }

    const window = server.services.activity.failures(100);
    // The victim key was never tried: it is not in the per-key table.
    expect(window.byKey.find((row) => row.subject === victim.keyId)).toBeUndefined();
    // The attacker's own failures (tried: a wrong signature) still are.
    expect(window.byKey.find((row) => row.subject === attacker.keyId)?.count).toBe(6);
    // Every address is still visible, with each refusal counted against it.
    for (const address of addresses) {
      expect(window.bySource.find((row) => row.subject === address)?.count, address).toBe(6);
    }
    expect(window.total).toBe(36);
    expect(window.throttled).toBe(30);

    // No "key under attack" for the victim: no audit entry, no warn log.
    const attacks = await server.services.keyService.queryAudit({ types: ['key.under_attack'] });
    expect(attacks.map((entry) => entry.keyId)).not.toContain(victim.keyId);
    expect(log.filter((line) => line.includes('key under attack'))).toEqual([]);
    // Nor in the log: each refusal is an info line for its address, without the key id it named.
    const lines = log.flatMap((chunk) => chunk.split('\n')).filter((line) => line.length > 0);
    const parsed = lines.map(
      (line) => JSON.parse(line) as { level: string; msg: string; keyId?: string; remote?: string },
    );
    expect(parsed.filter((line) => line.keyId === victim.keyId)).toEqual([]);
    const throttledLines = parsed.filter((line) => line.msg === 'throttled: too many failures');
    expect(throttledLines).toHaveLength(30);
    expect(new Set(throttledLines.map((line) => line.level))).toEqual(new Set(['info']));
    expect(new Set(throttledLines.map((line) => line.remote))).toEqual(new Set(addresses));
  });

  it('a key tried from many addresses is still reported under attack (the watch is not switched off)', async () => {
    const target = await issueKey(server, 'really-attacked');
    // 20 wrong signatures from 5 fresh addresses: each address is blocked after its first, so this
    // takes 20 addresses, one tried failure each.
    for (let index = 0; index < 20; index++) {
      expect(await check({ keyId: target.keyId, secret: WRONG_SECRET }, freshAddress())).toBe('401 signature_invalid');
    }
    // The report is written without holding up the refusal: wait for it.
    await until(async () => {
      const attacks = await server.services.keyService.queryAudit({ types: ['key.under_attack'] });
      return attacks.some((entry) => entry.keyId === target.keyId);
    });
  });
});
