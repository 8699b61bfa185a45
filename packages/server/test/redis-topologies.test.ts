import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFailed } from 'vitest';
import { createKeyWithCli, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import {
  describeWithRedisBinaries,
  type RedisCluster,
  type RedisSentinelSetup,
  startRedisCluster,
  startRedisSentinel,
  waitFor,
} from '../../../test-support/redis-cluster.js';

// `hmac-kit serve --redis` on a real Redis Cluster (3 masters, 1 replica each) and a real Redis
// Sentinel setup, both started here from Debian's redis-server. The property under test: a signed
// request is accepted at most once, by any instance, before, during and after a master crashes.

const ORIGIN = 'https://api.example.com';

/** Signed whoami requests, each with its own nonce, made up front (they stay valid for minutes). */
async function signedRequests(key: IssuedKey, count: number) {
  return Promise.all(Array.from({ length: count }, () => signed(key, 'GET', `${ORIGIN}/v1/whoami`)));
}

type Prepared = Awaited<ReturnType<typeof signedRequests>>[number];

/** The last answer {@link sendTo} got (for failure messages). */
let lastAnswer = '';

/** Sends `request` to `instance` (rewritten to its address, signed for ORIGIN); resolves the status. */
async function sendTo(instance: ServeProcess, request: Prepared, address: string): Promise<number> {
  const url = request.url.replace(ORIGIN, instance.url);
  try {
    const answer = await send({ url, init: request.init }, { 'x-forwarded-for': address });
    lastAnswer = `${answer.status} ${JSON.stringify(answer.body)}`;
    return answer.status;
  } catch (error) {
    lastAnswer = `no answer: ${String(error)}`;
    return 0;
  }
}

/** Tallies acceptances per request across every attempt. */
class Tally {
  readonly accepted = new Map<number, number>();
  readonly statuses = new Map<number, number>();
  record(index: number, status: number) {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (status === 200) this.accepted.set(index, (this.accepted.get(index) ?? 0) + 1);
  }
  acceptedMoreThanOnce(): number[] {
    return [...this.accepted].filter(([, count]) => count > 1).map(([index]) => index);
  }
  acceptedOnce(indexes: readonly number[]): number[] {
    return indexes.filter((index) => this.accepted.get(index) === 1);
  }
}

/**
 * Runs `step` over and over while `failover` is in progress (up to `limit` times) and resolves
 * the failover's result with how many steps ran meanwhile.
 */
async function whileFailingOver<T>(
  failover: Promise<T>,
  limit: number,
  step: (round: number) => Promise<void>,
): Promise<{ result: T; rounds: number }> {
  let settled = false;
  const done = failover.finally(() => {
    settled = true;
  });
  done.catch(() => {});
  let rounds = 0;
  while (!settled && rounds < limit) await step(rounds++);
  return { result: await done, rounds };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, offset) => from + offset);

describeWithRedisBinaries('hmac-kit serve on a Redis Cluster of 3 masters', () => {
  let cluster: RedisCluster;
  let a: ServeProcess;
  let b: ServeProcess;
  let alice: IssuedKey;
  let admin: IssuedKey;
  const tally = new Tally();

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    // The two CLI runs one after the other: both would create the same new database file at once.
    const keys = (async (): Promise<[IssuedKey, IssuedKey]> => [
      await createKeyWithCli(db, 'alice'),
      await createKeyWithCli(db, 'root', ['--scope', 'admin']),
    ])();
    [cluster, [alice, admin]] = await Promise.all([startRedisCluster({ masters: 3 }), keys]);
    const args = ['--db', db, '--redis', cluster.url, '--schemes', 'rfc9421', '--public-origin', ORIGIN];
    [a, b] = await Promise.all([startServe(args, { cwd: dir }), startServe(args, { cwd: dir })]);
    await Promise.all(
      [a, b].map((instance) =>
        waitFor('readiness on the cluster', async () => (await fetch(`${instance.url}/readyz`)).status === 200),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
  });

  /** Sends request `index` to both instances at the same moment and records both answers. */
  const race = async (requests: readonly Prepared[], index: number) => {
    const address = `10.77.${Math.floor(index / 250)}.${(index % 250) + 1}`;
    const statuses = await Promise.all(
      [a, b].map((instance) => sendTo(instance, requests[index] as Prepared, address)),
    );
    for (const status of statuses) tally.record(index, status);
    return statuses;
  };

  it('uses every master (the nonce shards spread over the cluster)', async () => {
    expect((await cluster.masterPorts()).length).toBe(3);
  });

  it('accepts each signed request once, before, during and after a master crashes', async () => {
    const requests = await signedRequests(alice, 60);
    // Before: each request raced to both instances.
    for (const index of range(0, 20)) await race(requests, index);
    expect(tally.acceptedOnce(range(0, 20))).toEqual(range(0, 20));

    // During: crash the master of slot 0 (shard "{0}" lives elsewhere, but every master holds
    // some shards), and keep racing requests until a replica has taken over.
    // Each round: two new requests and two replays of accepted ones at once, to both instances.
    const { result, rounds } = await whileFailingOver(cluster.crashMasterOf(0), 10, (round) => {
      const batch = [20 + 2 * round, 21 + 2 * round];
      return Promise.all([...batch, ...batch.map((index) => index - 20)].map((index) => race(requests, index))).then(
        () => undefined,
      );
    });
    const { crashed, promoted } = result;
    const during = 20 + 2 * rounds;
    expect(promoted).not.toBe(crashed);
    // Requests really were sent while the master was down.
    expect(during).toBeGreaterThan(20);
    // The crashed node comes back empty and rejoins as the new master's replica: the nonce shards
    // it served need a replica to acknowledge them again (replicas=1 is the cluster default).
    await cluster.restart(crashed);

    // After: the rest, then every request again to both instances.
    for (const index of range(40, 60)) {
      await waitFor(
        `request ${index} answered`,
        async () => (await race(requests, index)).some((s) => s !== 503),
        20_000,
      );
    }
    for (const index of range(0, 60)) await race(requests, index);

    console.info(
      `[hmac-kit] cluster failover: ${during - 20} requests raced during it; answers ${JSON.stringify(Object.fromEntries(tally.statuses))}; ${tally.accepted.size} of 60 requests accepted, none twice`,
    );
    expect(tally.acceptedMoreThanOnce()).toEqual([]);
    expect(tally.acceptedOnce(range(0, 20))).toEqual(range(0, 20));
    expect(tally.acceptedOnce(range(40, 60))).toEqual(range(40, 60));
    // Every other answer is a refusal: 401 (replayed), 429 (the replays count as failures and
    // throttle that address) or 503 (a shard unavailable during the failover: fail closed).
    for (const status of tally.statuses.keys()) expect([200, 401, 429, 503]).toContain(status);
  }, 120_000);

  it('spreads a revocation to the other instance over cluster pub/sub, also after the failover', async () => {
    const adminCall = async (path: string, body: unknown) => {
      const request = await signed(admin, 'POST', `${ORIGIN}${path}`, { body: JSON.stringify(body) });
      return send({ url: request.url.replace(ORIGIN, a.url), init: request.init }, { 'x-forwarded-for': '10.78.0.2' });
    };
    const created = await adminCall('/v1/admin/keys', { principal: 'alice' });
    expect(created.status).toBe(201);
    const key = created.body as unknown as IssuedKey;
    expect(key.keyId).toMatch(/^hk_/);
    const onB = async () => sendTo(b, await signed(key, 'GET', `${ORIGIN}/v1/whoami`), '10.78.0.1');
    expect(await onB()).toBe(200);
    expect((await adminCall(`/v1/admin/keys/${key.keyId}/revoke`, {})).status).toBe(200);
    await waitFor('instance B refusing the revoked key', async () => (await onB()) === 401, 10_000);
  });
});

describeWithRedisBinaries('hmac-kit serve on Redis Sentinel', () => {
  let sentinel: RedisSentinelSetup;
  /** The default: a nonce counts once a replica confirms it (replicas=1). */
  let safe: ServeProcess;
  /** replicas=0: what the default protects against. */
  let unsafe: ServeProcess;
  let alice: IssuedKey;
  const tally = new Tally();

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    [sentinel, alice] = await Promise.all([startRedisSentinel(), createKeyWithCli(db, 'alice')]);
    const args = (url: string) => ['--db', db, '--redis', url, '--schemes', 'rfc9421', '--public-origin', ORIGIN];
    [safe, unsafe] = await Promise.all([
      startServe(args(sentinel.url), { cwd: dir }),
      startServe(args(`${sentinel.url}?replicas=0`), { cwd: dir }),
    ]);
    await Promise.all(
      [safe, unsafe].map((instance) =>
        waitFor('readiness through sentinel', async () => (await fetch(`${instance.url}/readyz`)).status === 200),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all([safe?.stop(), unsafe?.stop()]);
    await sentinel?.stop();
  });

  it('follows the master across a failover that loses writes, and still accepts each signed request once', async () => {
    // Whatever fails, the sentinels' logs say what they did (they go with the temporary directory), and
    // the replicas=1 instance's log what it saw of Redis.
    onTestFailed(() => {
      console.error(`[hmac-kit] sentinel logs:\n${sentinel.logs()}`);
      const notable = safe.logs.filter((line) => line.msg !== 'request' && line.msg !== 'authentication failed');
      console.error(
        `[hmac-kit] replicas=1 instance, its log but requests:\n${notable.map((line) => JSON.stringify(line)).join('\n')}`,
      );
    });
    const requests = await signedRequests(alice, 30);
    const [lostOnUnsafe, heldBySafe] = await signedRequests(alice, 2);
    const sendOnce = async (index: number) => {
      const status = await sendTo(safe, requests[index] as Prepared, `10.79.0.${index + 1}`);
      tally.record(index, status);
      return status;
    };
    for (const index of range(0, 10)) expect(await sendOnce(index)).toBe(200);

    // The master's last writes will never reach the replica.
    sentinel.cutReplication();
    // replicas=0 accepts at once: its nonce is on the master only.
    expect(await sendTo(unsafe, lostOnUnsafe as Prepared, '10.79.1.1')).toBe(200);
    // The default cannot get the nonce confirmed by a replica: refused closed, not accepted.
    expect(await sendTo(safe, heldBySafe as Prepared, '10.79.1.2')).toBe(503);

    // The master crashes; new requests and replays of accepted ones keep coming meanwhile.
    const { rounds } = await whileFailingOver(sentinel.crashMaster(), 10, (round) =>
      Promise.all([sendOnce(10 + round), sendOnce(round)]).then(() => undefined),
    );
    const during = 10 + rounds;
    expect(during).toBeGreaterThan(10);
    // The old master comes back empty; the sentinels make it the new master's replica.
    await sentinel.restartOldMaster();

    for (const index of range(20, 30)) {
      await waitFor(
        `request ${index} answered`,
        async () => (await sendOnce(index)) !== 503,
        20_000,
        async () => `last answer: ${lastAnswer}`,
      );
    }
    for (const index of range(0, 30)) await sendOnce(index);
    console.info(
      `[hmac-kit] sentinel failover: ${during - 10} requests sent during it; answers ${JSON.stringify(Object.fromEntries(tally.statuses))}`,
    );
    expect(tally.acceptedMoreThanOnce()).toEqual([]);
    expect(tally.acceptedOnce(range(0, 10))).toEqual(range(0, 10));
    expect(tally.acceptedOnce(range(20, 30))).toEqual(range(20, 30));
    for (const status of tally.statuses.keys()) expect([200, 401, 429, 503]).toContain(status);

    // The request refused while unconfirmed is accepted now, once.
    expect(await sendTo(safe, heldBySafe as Prepared, '10.79.1.2')).toBe(200);
    expect(await sendTo(safe, heldBySafe as Prepared, '10.79.1.2')).toBe(401);
    // And what replicas=0 risks: the failover lost that nonce, and its replay is accepted again.
    // (This also proves the failover above really lost writes, so the checks above are not idle.)
    expect(await sendTo(unsafe, lostOnUnsafe as Prepared, '10.79.1.1')).toBe(200);
    // A hang detector above the waits' own bounds (the failover's 75 s, the old master's return 150 s),
    // so a slow step fails with its own message, not the test's timeout.
  }, 300_000);
});
