import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { buildOnce, exitOf, runCli, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { describeWithServices, redisUrl } from '../../../test-support/services.js';
import { until } from '../../../test-support/wait.js';
import { makeCertificates, servedSerial, tlsSocket } from './support/tls.js';

/** The workers (pid by worker id) that logged `worker listening`, and are still up. */
function workerPids(server: ServeProcess): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of server.logs) {
    if (line.msg === 'worker listening') pids.set(line.worker as number, line.pid as number);
  }
  return pids;
}

/**
 * Sends the same signed request `copies` times at once, each on its own connection, with a
 * request id of its own; resolves every status and, from the access log, the worker that answered.
 */
async function replayConcurrently(server: ServeProcess, key: IssuedKey, copies: number) {
  const request = await signed(key, 'GET', `${server.url}/v1/whoami`);
  const ids = Array.from({ length: copies }, () => randomUUID());
  // Each copy from an address of its own: the replays are failures, which the throttle counts per address.
  const results = await Promise.all(
    ids.map((id) =>
      send(request, { 'x-forwarded-for': freshAddress(), 'x-request-id': id, connection: 'close' }).then((result) => ({
        id,
        ...result,
      })),
    ),
  );
  await until(() => ids.every((id) => server.logs.some((line) => line.msg === 'request' && line.reqId === id)));
  const workerOf = (id: string) =>
    server.logs.find((line) => line.msg === 'request' && line.reqId === id)?.worker as number;
  return results.map((result) => ({ status: result.status, code: result.body.code, worker: workerOf(result.id) }));
}

/** The acceptance rule the issue sets: N workers, one signed request sent to all at once, accepted once. */
async function expectAcceptedOnceAcrossWorkers(server: ServeProcess, key: IssuedKey, workers: number) {
  const seenWorkers = new Set<number>();
  // Connections are handed to workers round-robin; a few rounds make sure several took part.
  for (let round = 0; round < 6 && seenWorkers.size < Math.min(workers, 2); round++) {
    const answers = await replayConcurrently(server, key, workers * 3);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status !== 200).map((answer) => answer.code)).toEqual(
      Array(answers.length - 1).fill('nonce_replayed'),
    );
    for (const answer of answers) seenWorkers.add(answer.worker);
  }
  // Proof the copies really reached different processes (worker ids from the access log).
  expect(seenWorkers.size).toBeGreaterThanOrEqual(2);
}

async function metricSum(server: ServeProcess, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) total += Number(line.split(' ').pop());
  }
  return total;
}

// Several processes start per test, on machines shared with other test runs: generous bounds.
const SLOW = 120_000;

describe('hmac-kit serve --workers: one port, several processes, memory stores shared by the supervisor', () => {
  let dir: string;
  let db: string;
  let alice: IssuedKey;
  let limited: IssuedKey;
  let server: ServeProcess;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    alice = await createKeyWithCli(db, 'alice');
    limited = await createKeyWithCli(db, 'limited', ['--rate-limit', '5/1h']);
    server = await startServe(['--db', db, '--workers', '3'], { cwd: dir, timeoutMs: SLOW });
  }, SLOW);

  afterAll(async () => {
    await server?.stop();
  });

  it(
    'starts the workers, then logs listening once with their count',
    async () => {
      // Each worker's own line may reach stdout after the supervisor's.
      await until(() => workerPids(server).size === 3);
      expect(server.logs.filter((line) => line.msg === 'listening')).toHaveLength(1);
      expect(server.logs.find((line) => line.msg === 'listening')).toMatchObject({
        workers: 3,
        sharedStores: 'supervisor memory',
      });
      expect(new Set(workerPids(server).values()).size).toBe(3);
      await until(() => server.stderr().includes('hmac-kit serve listening on'));
      expect(server.stderr()).toContain('3 processes (nonces and limits shared through the supervisor)');
    },
    SLOW,
  );

  it(
    'accepts the same signed request sent to every worker at once exactly once (no Redis)',
    async () => {
      await expectAcceptedOnceAcrossWorkers(server, alice, 3);
    },
    SLOW,
  );

  it(
    'enforces one rate limit across the workers',
    async () => {
      const statuses: number[] = [];
      const answers = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const request = await signed(limited, 'GET', `${server.url}/v1/whoami`);
          return send(request, { 'x-forwarded-for': freshAddress(), connection: 'close' });
        }),
      );
      for (const answer of answers) statuses.push(answer.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(5);
      expect(answers.filter((answer) => answer.status === 429)).toHaveLength(7);
    },
    SLOW,
  );

  it(
    'aggregates /metrics over every worker',
    async () => {
      const before = await metricSum(server, 'hmac_kit_requests_total', 'outcome="accepted"');
      for (let index = 0; index < 6; index++) {
        const request = await signed(alice, 'GET', `${server.url}/v1/whoami`);
        expect((await send(request, { 'x-forwarded-for': freshAddress(), connection: 'close' })).status).toBe(200);
      }
      // Whichever worker answers the scrape, the count covers all of them.
      for (let scrape = 0; scrape < 3; scrape++) {
        expect(await metricSum(server, 'hmac_kit_requests_total', 'outcome="accepted"')).toBe(before + 6);
      }
      // Per-process facts are not summed into nonsense.
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(/^hmac_kit_build_info\{[^}]*\} 1$/m);
    },
    SLOW,
  );

  it(
    'restarts a crashed worker; nonces survive it (they live in the supervisor)',
    async () => {
      const request = await signed(alice, 'GET', `${server.url}/v1/whoami`);
      expect((await send(request, { 'x-forwarded-for': freshAddress() })).status).toBe(200);

      const [victimId, victimPid] = [...workerPids(server).entries()][0] as [number, number];
      const mark = server.logs.length;
      process.kill(victimPid, 'SIGKILL');
      await until(() => server.logs.slice(mark).some((line) => line.msg === 'worker restarted'));
      const crash = server.logs.slice(mark).find((line) => line.msg === 'worker exited unexpectedly: restarting it');
      expect(crash).toMatchObject({ level: 'error', worker: victimId, signal: 'SIGKILL' });
      expect(crash?.restartInMs).toBeGreaterThan(0);

      // The replay is still refused whichever worker (old or new) gets it.
      for (let attempt = 0; attempt < 6; attempt++) {
        // A fresh source address each time: replays are failures, and the throttle would block one address.
        const replay = await send(request, { 'x-forwarded-for': freshAddress(), connection: 'close' });
        expect(replay.status).toBe(401);
        expect(replay.body.code).toBe('nonce_replayed');
      }
    },
    SLOW,
  );

  it(
    'serves a key created through the admin API of one worker on all of them (one SQLite file, WAL)',
    async () => {
      const admin = await createKeyWithCli(db, 'root', ['--scope', 'admin']);
      // The admin key was written by another process (the CLI): a worker may not know it until its change
      // feed is next read (see below), and a refused request creates nothing, so sign afresh until one is served.
      let created = { status: 0, body: {} as Record<string, unknown> };
      await until(async () => {
        const create = await signed(admin, 'POST', `${server.url}/v1/admin/keys`, {
          body: JSON.stringify({ principal: 'alice' }),
        });
        created = await send(create, { 'x-forwarded-for': freshAddress() });
        return created.status !== 401;
      });
      expect(created.status).toBe(201);
      const fresh = { keyId: created.body.keyId as string, secret: created.body.secret as string } as IssuedKey;
      // The other workers learn of the key from the change feed (a lookup reads it when it is older than
      // its freshness bound), so on a loaded machine a worker may answer signature_invalid at first: wait
      // until fresh signatures are accepted by every worker reached, then check the replays.
      await until(async () => {
        const answers = await Promise.all(
          Array.from({ length: 9 }, async () =>
            send(await signed(fresh, 'GET', `${server.url}/v1/whoami`), {
              'x-forwarded-for': freshAddress(),
              connection: 'close',
            }),
          ),
        );
        return answers.every((answer) => answer.status === 200);
      });
      await expectAcceptedOnceAcrossWorkers(server, fresh, 3);
    },
    SLOW,
  );

  it(
    'on SIGTERM stops every worker and exits 0',
    async () => {
      const pids = [...workerPids(server).values()];
      server.child.kill('SIGTERM');
      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      expect(server.logs.filter((line) => line.msg === 'stopped' && line.worker !== undefined).length).toBeGreaterThan(
        0,
      );
    },
    SLOW,
  );
});

describe('hmac-kit serve: the default process model', () => {
  let dir: string;

  beforeAll(() => {
    buildOnce();
    dir = tempDir();
  });

  it(
    'with no configuration runs one worker per core (no Redis: stores shared by the supervisor) and refuses replays',
    async () => {
      const db = join(dir, 'default.db');
      const key = await createKeyWithCli(db, 'alice');
      const server = await startServe(['--db', db], {
        cwd: dir,
        env: { HMAC_KIT_WORKERS: undefined },
        timeoutMs: SLOW,
      });
      try {
        const cores = availableParallelism();
        if (cores === 1) {
          expect(server.logs.find((line) => line.msg === 'listening')?.workers).toBeUndefined();
        } else {
          expect(server.logs.find((line) => line.msg === 'listening')).toMatchObject({ workers: cores });
          await expectAcceptedOnceAcrossWorkers(server, key, cores);
        }
      } finally {
        await server.stop();
      }
    },
    SLOW,
  );

  it(
    'refuses several workers on an in-memory database with one clear line',
    async () => {
      const result = await runCli(['--db', ':memory:', 'serve', '--port', '0', '--workers', '2'], { cwd: dir });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        'hmac-kit: cannot start: an in-memory database (:memory:) cannot be shared by several workers: use --workers 1',
      );
    },
    SLOW,
  );

  it(
    'reports a worker that cannot start once, and exits',
    async () => {
      // Any listener makes the port busy: one in this process costs no `serve` start.
      const busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      try {
        const port = String((busy.address() as AddressInfo).port);
        const result = await runCli(['--db', join(dir, 'other.db'), 'serve', '--port', port, '--workers', '2'], {
          cwd: dir,
        });
        expect(result.code).toBe(1);
        expect(result.stderr.trim().split('\n')).toEqual([
          expect.stringMatching(/^hmac-kit: cannot start: .*EADDRINUSE/),
        ]);
      } finally {
        await new Promise((resolve) => busy.close(resolve));
      }
    },
    SLOW,
  );

  it(
    'passes SIGHUP on: every worker reloads the TLS certificate',
    async () => {
      const certs = makeCertificates(dir);
      const certFile = join(dir, 'live.pem');
      const keyFile = join(dir, 'live.key');
      copyFileSync(certs.first.certFile, certFile);
      copyFileSync(certs.first.keyFile, keyFile);
      const server = await startServe(
        ['--db', join(dir, 'tls.db'), '--workers', '2', '--tls-cert', certFile, '--tls-key', keyFile],
        { cwd: dir, timeoutMs: SLOW },
      );
      try {
        copyFileSync(certs.second.certFile, certFile);
        copyFileSync(certs.second.keyFile, keyFile);
        const mark = server.logs.length;
        server.child.kill('SIGHUP');
        const reloaded = () =>
          new Set(
            server.logs
              .slice(mark)
              .filter((line) => line.msg === 'TLS certificate reloaded: new connections get it')
              .map((line) => line.worker),
          );
        await until(() => reloaded().size === 2);
        // Whichever worker accepts them, new connections get the new certificate.
        for (let attempt = 0; attempt < 4; attempt++) {
          const socket = await tlsSocket(Number(new URL(server.url).port), certs.ca);
          expect(servedSerial(socket)).toBe(certs.second.serial);
          socket.destroy();
        }
      } finally {
        await server.stop();
      }
    },
    SLOW,
  );
});

describeWithServices('hmac-kit serve --workers with Redis', { redis: true }, () => {
  let server: ServeProcess;
  let alice: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    alice = await createKeyWithCli(db, 'alice');
    server = await startServe(['--db', db, '--workers', '2', '--redis', redisUrl], { cwd: dir, timeoutMs: SLOW });
  }, SLOW);

  afterAll(async () => {
    await server?.stop();
  });

  it(
    'accepts the same signed request sent to both workers at once exactly once',
    async () => {
      expect(server.logs.find((line) => line.msg === 'listening')).toMatchObject({ workers: 2, sharedStores: 'redis' });
      await expectAcceptedOnceAcrossWorkers(server, alice, 2);
    },
    SLOW,
  );
});
