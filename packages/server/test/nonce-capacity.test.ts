/**
 * `hmac-kit serve --nonce-capacity <n>` (session 22, helper cap22): the memory nonce store's bound
 * (`memoryNonceStore({ maxEntries })`), which `serve` fixed at 1,000,000 (~3,280 signed requests/s
 * sustained with the default window) with nothing to turn. Against the real process:
 *
 * - a full store refuses one more distinct request `503 store_unavailable` (fail closed: evicting an
 *   unexpired nonce would reopen its replay), while a replay of an accepted request is still refused
 *   as a replay (`401 nonce_replayed`): the capacity never turns a replay into anything else;
 * - with `--workers 2` the bound is the supervisor's one shared store, not one per worker;
 * - bad values, and the option with `--redis` (where it would bound nothing), fail at start with one
 *   line and exit code 2.
 */

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { buildOnce, runCli, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { describeWithServices, redisUrl } from '../../../test-support/services.js';
import { until } from '../../../test-support/wait.js';

type Signed = Awaited<ReturnType<typeof signed>>;

describe('hmac-kit serve --nonce-capacity', () => {
  let dir: string;
  let db: string;
  let key: IssuedKey;
  const servers: ServeProcess[] = [];

  async function serve(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
    const server = await startServe(['--db', db, ...args], { cwd: dir, env });
    servers.push(server);
    return server;
  }

  /** Sends `request` on a connection of its own, from an address of its own; status, code and answering worker. */
  async function sendOnce(server: ServeProcess, request: Signed) {
    const id = randomUUID();
    const result = await send(request, { 'x-forwarded-for': freshAddress(), 'x-request-id': id, connection: 'close' });
    await until(() => server.logs.some((line) => line.msg === 'request' && line.reqId === id));
    const worker = server.logs.find((line) => line.msg === 'request' && line.reqId === id)?.worker as
      | number
      | undefined;
    return { status: result.status, code: result.body.code, worker };
  }

  const whoami = (server: ServeProcess) => signed(key, 'GET', `${server.url}/v1/whoami`);

  /** The value of an unlabelled series at /metrics (undefined when absent). */
  async function metric(server: ServeProcess, name: string): Promise<number | undefined> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  }

  const fullLines = (server: ServeProcess) =>
    server.logs.filter((line) => String(line.msg).startsWith('nonce store full'));

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'nonce-capacity');
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('accepts n distinct requests, refuses the next 503 store_unavailable, and still refuses a replay as a replay', async () => {
    const server = await serve(['--nonce-capacity', '3']);
    const accepted: Signed[] = [];
    for (let index = 0; index < 3; index++) {
      const request = await whoami(server);
      expect(await sendOnce(server, request)).toMatchObject({ status: 200 });
      accepted.push(request);
    }
    // The attack: the store is full; a replay of an accepted request must not get anything but a replay refusal.
    for (const request of accepted) {
      expect(await sendOnce(server, request)).toMatchObject({ status: 401, code: 'nonce_replayed' });
    }
    const fourth = await sendOnce(server, await whoami(server));
    expect(fourth).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 503, code: 'store_unavailable' });
    // Still replays, after the refusals.
    expect(await sendOnce(server, accepted[0]!)).toMatchObject({ status: 401, code: 'nonce_replayed' });
    // Seen before it bites: the fill and the bound, read at scrape time.
    expect(await metric(server, 'hmac_kit_nonce_store_entries')).toBe(3);
    expect(await metric(server, 'hmac_kit_nonce_store_capacity')).toBe(3);
    // The episode is logged once, not per refused request, without key ids or nonces.
    const lines = fullLines(server);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', capacity: 3 });
    expect(JSON.stringify(lines[0])).not.toContain(key.keyId);
  });

  it('logs the end of a full episode once nonces expire, with how many requests it refused', async () => {
    // A short window, so that the accepted nonces expire within the test (waited for, not slept).
    const server = await serve(['--nonce-capacity', '1', '--max-age', '2s', '--clock-skew', '0s']);
    expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 200 });
    expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 503, code: 'store_unavailable' });
    await until(async () => (await sendOnce(server, await whoami(server))).status === 200);
    expect(fullLines(server)).toHaveLength(1);
    const room = server.logs.filter(
      (line) => line.msg === 'nonce store has room again after refusing requests while full',
    );
    expect(room).toHaveLength(1);
    expect(room[0]).toMatchObject({ level: 'info', capacity: 1 });
    expect(room[0]?.refused).toBeGreaterThanOrEqual(1);
  });

  it('logs a full episode once, not a warn line per refused request; each refusal still has its 503 access line', async () => {
    // Session 23 (fix23): each refusal was also logged at warn as `authentication failed`
    // ERR_STORE_UNAVAILABLE, a line per request under the very overload that fills the store.
    for (const workers of ['1', '2']) {
      const server = await serve(['--workers', workers, '--nonce-capacity', '1']);
      expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 200 });
      const refusedIds: string[] = [];
      for (let index = 0; index < 6; index++) {
        const id = randomUUID();
        const answer = await send(await whoami(server), {
          'x-forwarded-for': freshAddress(),
          'x-request-id': id,
          connection: 'close',
        });
        expect(answer, `--workers ${workers}`).toMatchObject({ status: 503, body: { code: 'store_unavailable' } });
        refusedIds.push(id);
      }
      await until(() =>
        refusedIds.every((id) => server.logs.some((line) => line.msg === 'request' && line.reqId === id)),
      );
      // The access line of every refusal says 503 store_unavailable, at info as every request's.
      for (const id of refusedIds) {
        const line = server.logs.find((entry) => entry.msg === 'request' && entry.reqId === id);
        expect(line, `--workers ${workers}`).toMatchObject({ level: 'info', status: 503, code: 'store_unavailable' });
      }
      // One warn line for the episode; no warn (nor info) failure line per refused request.
      expect(fullLines(server), `--workers ${workers}`).toHaveLength(1);
      const perRequest = server.logs.filter((line) => line.code === 'ERR_STORE_UNAVAILABLE');
      expect(perRequest, `--workers ${workers}`).toEqual([]);
      expect(
        server.logs.filter((line) => line.level === 'warn').map((line) => line.msg),
        `--workers ${workers}`,
      ).toEqual([fullLines(server)[0]?.msg]);
    }
  });

  it('is read from HMAC_KIT_NONCE_CAPACITY too', async () => {
    const server = await serve([], { HMAC_KIT_NONCE_CAPACITY: '1' });
    expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 200 });
    expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 503, code: 'store_unavailable' });
  });

  it('keeps the default of 1,000,000 when unset', async () => {
    const server = await serve([]);
    for (let index = 0; index < 5; index++) {
      expect(await sendOnce(server, await whoami(server))).toMatchObject({ status: 200 });
    }
    expect(await metric(server, 'hmac_kit_nonce_store_capacity')).toBe(1_000_000);
    expect(await metric(server, 'hmac_kit_nonce_store_entries')).toBe(5);
  });

  it('bounds the one store the supervisor shares with --workers 2, not one store per worker', async () => {
    const server = await serve(['--workers', '2', '--nonce-capacity', '3']);
    const workers = new Set<number | undefined>();
    const accepted: Signed[] = [];
    for (let index = 0; index < 3; index++) {
      const request = await whoami(server);
      const answer = await sendOnce(server, request);
      expect(answer).toMatchObject({ status: 200 });
      workers.add(answer.worker);
      accepted.push(request);
    }
    // Connections go to the workers in turn: a store per worker would accept some of these.
    for (let index = 0; index < 6; index++) {
      const answer = await sendOnce(server, await whoami(server));
      expect(answer).toMatchObject({ status: 503, code: 'store_unavailable' });
      workers.add(answer.worker);
    }
    for (const request of accepted) {
      expect(await sendOnce(server, request)).toMatchObject({ status: 401, code: 'nonce_replayed' });
    }
    // Both workers answered (worker ids from the access log).
    expect(workers.size).toBeGreaterThanOrEqual(2);
    // The supervisor's store, reported once (not summed over the workers), and its episode logged once.
    expect(await metric(server, 'hmac_kit_nonce_store_entries')).toBe(3);
    expect(await metric(server, 'hmac_kit_nonce_store_capacity')).toBe(3);
    expect(fullLines(server)).toHaveLength(1);
  });

  it('fails at start with one line and exit code 2 on a bad value or with --redis', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--nonce-capacity', '0'], {}, /^hmac-kit: config: invalid nonce capacity "0": expected 1\.\.100000000$/],
      [['--nonce-capacity', 'lots'], {}, /^hmac-kit: config: invalid nonce capacity "lots"/],
      [['--nonce-capacity', '1.5'], {}, /^hmac-kit: config: invalid nonce capacity "1.5"/],
      [['--nonce-capacity', '100000001'], {}, /^hmac-kit: config: invalid nonce capacity "100000001"/],
      [[], { HMAC_KIT_NONCE_CAPACITY: '-5' }, /^hmac-kit: config: invalid nonce capacity "-5"/],
      [
        ['--nonce-capacity', '5000', '--redis', 'redis://127.0.0.1:6379'],
        {},
        /^hmac-kit: config: nonce capacity .* does not apply with --redis/,
      ],
      [
        ['--redis', 'redis://127.0.0.1:6379'],
        { HMAC_KIT_NONCE_CAPACITY: '5000' },
        /^hmac-kit: config: nonce capacity .* does not apply with --redis/,
      ],
    ];
    for (const [args, env, message] of cases) {
      const result = await runCli(['--db', db, 'serve', '--port', '0', ...args], { cwd: dir, env });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(result.stderr.trimEnd(), args.join(' ')).toMatch(message);
    }
    const help = await runCli(['serve', '--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(
      /--nonce-capacity <n> .*max-age \+ clock-skew.*\[HMAC_KIT_NONCE_CAPACITY\]/,
    );
  });
});

describeWithServices('hmac-kit serve --redis: no memory nonce store, no nonce store gauges', { redis: true }, () => {
  it('reports neither gauge, standalone or with --workers 2 (the nonces live in Redis)', async () => {
    buildOnce();
    const dir = tempDir();
    for (const workers of ['1', '2']) {
      const server = await startServe(['--db', join(dir, 'hmac-kit.db'), '--redis', redisUrl, '--workers', workers], {
        cwd: dir,
      });
      try {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        expect(text).toContain('hmac_kit_connections_open');
        expect(text).not.toContain('hmac_kit_nonce_store');
      } finally {
        await server.stop();
      }
    }
  });
});
