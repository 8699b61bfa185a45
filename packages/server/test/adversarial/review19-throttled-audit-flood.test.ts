/**
 * Adversarial (session 19 review, finding 3): a client the failure throttle blocks is refused
 * `too_many_failures` cheaply, and on the previous code each refusal wrote one `auth.failed` audit
 * row (batched, the backlog bounded at 10 000): a blocked client at 50 000 requests/s turned into a
 * database write flood, and every row named the key id the client chose. Now the refusals of a
 * blocked address are summarised: one row when the address is first refused in an interval (the
 * operator sees the block at once), then one row per address per interval with the count, and none
 * names a key id.
 */
import { memoryFailureThrottle } from '@hmac-kit/limits';
import { memoryLimitStores, type RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { until } from '../../../../test-support/wait.js';
import { forwardAuthCheck } from '../support/concurrent.js';
import { issueKey, startInProcess } from '../support/in-process.js';

const WRONG_SECRET = `hks_${'C'.repeat(43)}`;
const REFUSALS = 300;

describe('adversarial (review19): the refusals of a blocked client are summarised in the audit trail', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(
      { schemes: 'rfc9421' },
      {},
      {
        limitStores: {
          ...memoryLimitStores(),
          failureThrottle: memoryFailureThrottle({ freeFailures: 0, maxFailures: 1, blockSeconds: 300 }),
        },
        // The summary interval, short for the test (default 60 s).
        throttledAuditSeconds: 1,
      },
    );
  });

  afterAll(async () => {
    await server?.close();
  });

  async function send(signer: { keyId: string; secret: string }, address: string): Promise<number> {
    const request = await forwardAuthCheck(signer, address);
    const answer = await fetch(`${server.url}${request.path}`, { headers: request.headers });
    await answer.arrayBuffer();
    return answer.status;
  }

  it(`${REFUSALS} refusals of a blocked address: a bounded number of rows, the count kept, no key named`, async () => {
    const victim = await issueKey(server, 'flood-victim');
    const address = freshAddress();
    const quiet = freshAddress();
    expect(await send({ keyId: victim.keyId, secret: WRONG_SECRET }, address)).toBe(401);
    expect(await send({ keyId: victim.keyId, secret: WRONG_SECRET }, quiet)).toBe(401);
    const refusing = Date.now();
    for (let index = 0; index < REFUSALS; index++) {
      expect(await send({ keyId: victim.keyId, secret: WRONG_SECRET }, address)).toBe(429);
    }
    const refusedForMs = Date.now() - refusing;
    // The quiet address is refused once only.
    expect(await send({ keyId: victim.keyId, secret: WRONG_SECRET }, quiet)).toBe(429);

    const throttledRows = async () =>
      (await server.services.keyService.queryAudit({ types: ['auth.failed'], limit: 1000 })).filter(
        (entry) => entry.code === 'ERR_TOO_MANY_FAILURES',
      );
    const refusedFrom = (rows: Awaited<ReturnType<typeof throttledRows>>, source: string) =>
      rows.filter((row) => row.source === source).reduce((sum, row) => sum + Number(row.detail?.refused ?? 1), 0);
    // Every refusal is accounted for once the interval has been summarised...
    await until(async () => refusedFrom(await throttledRows(), address) === REFUSALS);
    const rows = await throttledRows();
    expect(refusedFrom(rows, quiet)).toBe(1);
    // ...in a handful of rows, not one per refusal: one at the first refusal, then one per interval
    // (1 s) the refusals went on in, so as many as the seconds they took (~2 s on a quiet machine,
    // 18 s at load 25: a fixed 8 failed there), plus the first and the last, partial one.
    const fromAddress = rows.filter((row) => row.source === address);
    expect(fromAddress.length).toBeGreaterThanOrEqual(1);
    expect(fromAddress.length).toBeLessThanOrEqual(Math.ceil(refusedForMs / 1000) + 2);
    // No row names the key id the blocked client chose.
    expect(rows.filter((row) => row.keyId !== undefined)).toEqual([]);
    // The failures that were tried (one per address) are still recorded one by one, with the key.
    const tried = (await server.services.keyService.queryAudit({ keyId: victim.keyId, types: ['auth.failed'] })).map(
      (row) => [row.code, row.source],
    );
    expect(tried.sort()).toEqual(
      [
        ['ERR_SIGNATURE_INVALID', address],
        ['ERR_SIGNATURE_INVALID', quiet],
      ].sort(),
    );
  });
});
