import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { startCuttableProxy } from './cuttable-proxy.js';
import { freePort } from './ports.js';

/**
 * Real Redis topologies started by the tests themselves (Debian's `redis-server` and
 * `redis-cli`): a Redis Cluster of masters with one replica each, and a master + replica watched
 * by Redis Sentinels. Every process listens on free loopback ports and keeps its files in a
 * fresh temporary directory; nothing touches the shared Redis on 6379.
 */

/** Whether `redis-server` and `redis-cli` are installed (Debian package `redis-server`). */
export function redisBinariesAvailable(): boolean {
  return ['redis-server', 'redis-cli'].every(
    (binary) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0,
  );
}

/**
 * `describe` for suites that start their own Redis servers: runs them when `redis-server` and
 * `redis-cli` are installed; otherwise fails under `CI=true` and elsewhere skips with a notice.
 */
export function describeWithRedisBinaries(name: string, body: () => void): void {
  if (redisBinariesAvailable()) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs redis-server and redis-cli', () => {
        throw new Error('redis-server / redis-cli missing (apt-get install redis-server); CI requires them');
      });
    });
    return;
  }
  console.warn(`[hmac-kit] SKIPPED "${name}": redis-server / redis-cli not installed (apt-get install redis-server)`);
  describe.skip(name, body);
}

/** One RESP2 reply, as `redis-cli` prints it without a terminal: array elements one a line. */
type Reply = string | null | Reply[];

/** Parses one complete RESP2 reply at `offset`; undefined while `buffer` holds only part of it. */
function parseReply(buffer: Buffer, offset: number): { reply: Reply; next: number } | { error: string } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  if (type === '+' || type === ':') return { reply: line, next };
  if (type === '-') return { error: line };
  const length = Number(line);
  if (type === '$') {
    if (length < 0) return { reply: null, next };
    if (buffer.length < next + length + 2) return undefined;
    return { reply: buffer.toString('utf8', next, next + length), next: next + length + 2 };
  }
  if (type === '*') {
    const items: Reply[] = [];
    let at = next;
    for (let index = 0; index < length; index++) {
      const item = parseReply(buffer, at);
      if (item === undefined || 'error' in item) return item;
      items.push(item.reply);
      at = item.next;
    }
    return { reply: items, next: at };
  }
  return { error: `unexpected RESP reply type ${JSON.stringify(type)}` };
}

function printed(reply: Reply): string {
  if (Array.isArray(reply)) return reply.map(printed).join('\n');
  return reply ?? '';
}

/**
 * Sends one command to the server on `port` and resolves the reply as `redis-cli -p port args...`
 * prints it (its stdout); rejects on an error reply. Over a socket of this process: the waits below
 * poll every node every 50 ms, and a redis-cli process per poll cost seconds of CPU per failover.
 */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`redis on ${port}: no answer to ${args.join(' ')}`)));
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const parsed = parseReply(Buffer.concat(chunks), 0);
      if (parsed === undefined) return;
      socket.destroy();
      if ('error' in parsed) reject(new Error(`redis on ${port}: ${parsed.error}`));
      else resolve(`${printed(parsed.reply)}\n`);
    });
    socket.once('close', () => reject(new Error(`redis on ${port}: connection closed before the reply`)));
    socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
  });
}

/** Thrown by a {@link waitFor} probe that sees the condition can no longer come: fails the wait at once. */
export class GiveUp extends Error {}

/**
 * Polls `probe` every 50 ms until it resolves true, or fails after `timeoutMs` naming `what` (and, when
 * given, what `state` says the situation was then). A probe that throws {@link GiveUp} fails it at once.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
  state?: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      if (error instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${error.message}`);
      // Not there yet.
    }
    if (Date.now() > deadline) {
      const seen = state ? await state().catch((error: unknown) => `(state unavailable: ${String(error)})`) : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; ${seen}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One redis-server process. */
export interface RedisProcess {
  port: number;
  process: ChildProcess;
  /** SIGKILL, as a crash: no shutdown, no save. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the same server again (same port, same files) after a kill. */
  restart(): RedisProcess;
}

function spawnRedis(argv: string[], port: number): RedisProcess {
  const child = spawn('redis-server', argv, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    process: child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    restart: () => spawnRedis(argv, port),
  };
}

function startRedisServer(args: string[], port: number, dir: string): RedisProcess {
  return spawnRedis(
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      join(dir, `redis-${port}.log`),
      ...args,
    ],
    port,
  );
}

const ping = async (port: number) => (await redisCli(port, 'ping')).trim() === 'PONG';

/**
 * Starts a server on free ports and waits until it answers. Another test process may take the
 * same "free" port between its release and redis-server's bind: the server then exits at once,
 * and it is started again on other ports.
 */
async function startOnFreePorts(start: (port: number, busPort: number) => RedisProcess): Promise<RedisProcess> {
  for (let attempt = 1; ; attempt++) {
    const node = start(await freePort(), await freePort());
    const exited = () => node.process.exitCode !== null || node.process.signalCode !== null;
    await waitFor(`redis-server on ${node.port}`, async () => exited() || (await ping(node.port)), 15_000);
    if (!exited()) return node;
    if (attempt === 5) throw new Error(`redis-server could not start on a free port (last tried ${node.port})`);
  }
}

/** A running Redis Cluster. */
export interface RedisCluster {
  /** `redis+cluster://...` naming every master, for `--redis`. */
  url: string;
  nodes: RedisProcess[];
  /** Ports of the masters that hold slots now. */
  masterPorts(): Promise<number[]>;
  /** Crashes the master that serves `slot` (SIGKILL) and resolves its port once a replica took its slots. */
  crashMasterOf(slot: number): Promise<{ crashed: number; promoted: number }>;
  /** Starts a crashed node again; it rejoins (empty) as a replica, and this resolves once it is in sync. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** `CLUSTER NODES` of one node, parsed. */
async function clusterNodes(port: number): Promise<Array<{ port: number; flags: string[]; slots: string[] }>> {
  const text = await redisCli(port, 'cluster', 'nodes');
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [, address = '', flags = '', , , , , , ...slots] = line.split(' ');
      return { port: Number(address.split('@')[0]?.split(':')[1]), flags: flags.split(','), slots };
    });
}

function servesSlot(ranges: readonly string[], slot: number): boolean {
  return ranges.some((range) => {
    if (range.startsWith('[')) return false;
    const [from, to = from] = range.split('-').map(Number);
    return slot >= (from as number) && slot <= (to as number);
  });
}

/**
 * Starts `masters` masters with one replica each (`--cluster-enabled yes`), joins them with
 * `redis-cli --cluster create --cluster-replicas 1 --cluster-yes` and waits until every node
 * reports `cluster_state:ok` and every replica is in sync. A node is declared failed after
 * `nodeTimeoutMs` without answering, so a crashed master is replaced about that fast.
 */
export async function startRedisCluster(
  options: { masters?: number; nodeTimeoutMs?: number } = {},
): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-redis-cluster-'));
  const nodes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < masters * 2; index++) {
      nodes.push(
        await startOnFreePorts((port, busPort) =>
          startRedisServer(
            [
              '--cluster-enabled',
              'yes',
              '--cluster-port',
              String(busPort),
              '--cluster-config-file',
              join(dir, `nodes-${port}.conf`),
              '--cluster-node-timeout',
              String(options.nodeTimeoutMs ?? 1000),
              // A replica may always take over, however long it was cut off (the test crashes masters).
              '--cluster-replica-validity-factor',
              '0',
              '--cluster-allow-replica-migration',
              'no',
              '--repl-diskless-sync',
              'yes',
              '--repl-diskless-sync-delay',
              '0',
            ],
            port,
            dir,
          ),
        ),
      );
    }
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((node) => `127.0.0.1:${node.port}`),
          '--cluster-replicas',
          '1',
          '--cluster-yes',
        ],
        { timeout: 60_000 },
        (error, _stdout, stderr) => (error ? reject(new Error(`redis-cli --cluster create: ${stderr}`)) : resolve()),
      );
    });
    await waitFor('cluster_state:ok on every node', async () => {
      const states = await Promise.all(nodes.map((node) => redisCli(node.port, 'cluster', 'info')));
      return states.every((info) => info.includes('cluster_state:ok'));
    });
    await waitFor('every replica in sync', async () => {
      const infos = await Promise.all(nodes.map((node) => redisCli(node.port, 'info', 'replication')));
      const replicas = infos.filter((info) => info.includes('role:slave'));
      return replicas.length === masters && replicas.every((info) => info.includes('master_link_status:up'));
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const alive = () => nodes.filter((node) => node.process.exitCode === null && node.process.signalCode === null);
  const masterPorts = async () => {
    const view = await clusterNodes((alive()[0] as RedisProcess).port);
    return view
      .filter((node) => node.flags.includes('master') && !node.flags.includes('fail') && node.slots.length > 0)
      .map((node) => node.port);
  };
  const masterOf = async (slot: number) => {
    const view = await clusterNodes((alive()[0] as RedisProcess).port);
    return view.find(
      (node) => node.flags.includes('master') && !node.flags.includes('fail') && servesSlot(node.slots, slot),
    )?.port;
  };

  return {
    url: `redis+cluster://${nodes
      .slice(0, masters)
      .map((node) => `127.0.0.1:${node.port}`)
      .join(',')}`,
    nodes,
    masterPorts,
    async crashMasterOf(slot) {
      const crashed = await masterOf(slot);
      const victim = nodes.find((node) => node.port === crashed);
      if (!victim) throw new Error(`no master serves slot ${slot}`);
      await victim.kill();
      let promoted: number | undefined;
      await waitFor(
        `a replica taking over slot ${slot} from ${crashed}`,
        async () => {
          const survivors = alive();
          const views = await Promise.all(survivors.map((node) => redisCli(node.port, 'cluster', 'info')));
          if (!views.every((info) => info.includes('cluster_state:ok'))) return false;
          promoted = await masterOf(slot);
          return promoted !== undefined && promoted !== crashed;
        },
        30_000,
      );
      return { crashed: victim.port, promoted: promoted as number };
    },
    async restart(port) {
      const index = nodes.findIndex((node) => node.port === port);
      const crashed = nodes[index] as RedisProcess;
      nodes[index] = crashed.restart();
      await waitFor(
        `node ${port} back in sync as a replica`,
        async () => {
          const info = await redisCli(port, 'info', 'replication');
          return info.includes('role:slave') && info.includes('master_link_status:up');
        },
        30_000,
      );
    },
    stop,
  };
}

/** A master, a replica and three Sentinels watching them as `masterName`. */
export interface RedisSentinelSetup {
  /**
   * Cuts the replica's replication link (it replicates through a TCP proxy): from now on writes
   * reach the master only, as when a master dies before its last writes were replicated.
   */
  cutReplication(): void;
  /** `redis+sentinel://...` naming every sentinel, for `--redis`. */
  url: string;
  masterName: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  /** Crashes the master (SIGKILL) and resolves once the sentinels name the replica as master. */
  crashMaster(): Promise<void>;
  /** Starts the crashed master again; resolves once the sentinels made it the new master's replica, in sync. */
  restartOldMaster(): Promise<void>;
  /** The sentinels' logs so far, one block per sentinel, without the "configuration saved" lines (for failures). */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * `down-after-milliseconds` while no failover is wanted: far above any pause of a loaded host. With
 * Sentinel's 1 s a pause of the master of 1-2 s (a sentinel pausing that long does the same: its
 * PING leaves late, and a pause under 2 s does not put it in TILT) has the sentinels fail over; once
 * the crashed master is back, empty, as a master for the ~10 s until they turn it into a replica, a
 * failover promotes it (it is the one replica that answers) and its empty data set replaces the
 * nonces everywhere. The test then waits for a replica that can never come (the 93 s timeout of a CI
 * run; reproduced by stopping the new master for 2.5 s, 3 s after the old one restarted).
 */
const CALM_DOWN_AFTER_MS = 30_000;

/**
 * Starts a master, one replica and three sentinels (`redis-server --sentinel`, quorum 2), and waits
 * until the sentinels see both servers. The sentinels declare a master down after
 * {@link CALM_DOWN_AFTER_MS}, except while `crashMaster()` waits for the failover: `downAfterMs`
 * then (default 1000).
 */
export async function startRedisSentinel(options: { downAfterMs?: number } = {}): Promise<RedisSentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-redis-sentinel-'));
  const masterName = 'hmackit';
  const processes: RedisProcess[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    await Promise.all(processes.map((node) => node.kill()));
    await Promise.all(cleanups.map((cleanup) => cleanup()));
    rmSync(dir, { recursive: true, force: true });
  };
  const logFile = (port: number) => join(dir, `sentinel-${port}.log`);
  try {
    const replication = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];
    const master = await startOnFreePorts((port) => startRedisServer(replication, port, dir));
    processes.push(master);
    // The replica reaches its master through a cuttable proxy (cutReplication()).
    const link = await startCuttableProxy('127.0.0.1', master.port);
    cleanups.push(() => link.close());
    const replica = await startOnFreePorts((port) =>
      startRedisServer(
        [...replication, '--replicaof', '127.0.0.1', String(link.port), '--replica-priority', '100'],
        port,
        dir,
      ),
    );
    processes.push(replica);
    await waitFor('replica in sync', async () =>
      (await redisCli(replica.port, 'info', 'replication')).includes('master_link_status:up'),
    );
    const sentinels: RedisProcess[] = [];
    for (let index = 0; index < 3; index++) {
      const sentinel = await startOnFreePorts((port) => {
        const config = join(dir, `sentinel-${port}.conf`);
        // Sentinel rewrites its configuration file: it must exist and be writable.
        writeFileSync(
          config,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `logfile ${logFile(port)}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
            `sentinel down-after-milliseconds ${masterName} ${CALM_DOWN_AFTER_MS}`,
            // Long enough that the sentinels never "fix" the replica's proxied master address
            // (they do so only after a configuration has been stable this long).
            `sentinel failover-timeout ${masterName} 60000`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        return spawnRedis([config, '--sentinel'], port);
      });
      sentinels.push(sentinel);
      processes.push(sentinel);
    }
    // Sentinel's own pace, told to be quicker where that changes nothing the tests look at: INFO every
    // 1 s instead of 10 s and hellos every 1 s instead of 2 s. A returning master is turned into a
    // replica once it reported that role for 4 hello periods, seen by INFO: ~5 s after its restart
    // instead of ~11-20 s. SENTINEL DEBUG exists since Redis 7.0; on an older one the default pace
    // stays (the waits' bounds are sized for it).
    await Promise.all(
      sentinels.map((sentinel) =>
        redisCli(sentinel.port, 'sentinel', 'debug', 'info-period', '1000', 'publish-period', '1000').catch(() => ''),
      ),
    );
    await waitFor('sentinels that know the replica and each other', async () => {
      const views = await Promise.all(
        sentinels.map((sentinel) => redisCli(sentinel.port, 'sentinel', 'master', masterName)),
      );
      return views.every((view) => {
        const lines = view.trim().split('\n');
        const field = (name: string) => lines[lines.indexOf(name) + 1];
        return field('num-slaves') === '1' && field('num-other-sentinels') === '2';
      });
    });

    const alive = (node: RedisProcess) => node.process.exitCode === null && node.process.signalCode === null;
    const setDownAfter = (ms: number) =>
      Promise.all(
        sentinels.map((sentinel) =>
          redisCli(sentinel.port, 'sentinel', 'set', masterName, 'down-after-milliseconds', String(ms)),
        ),
      );
    /** The master's address as each sentinel names it (`host:port`, or `?` when one does not answer). */
    const masterViews = () =>
      Promise.all(
        sentinels.map((sentinel) =>
          redisCli(sentinel.port, 'sentinel', 'get-master-addr-by-name', masterName)
            .then((view) => view.trim().split('\n').join(':'))
            .catch(() => '?'),
        ),
      );
    const logSize = (port: number) => {
      try {
        return statSync(logFile(port)).size;
      } catch {
        return 0;
      }
    };
    /** Each sentinel's log from byte `from[index]` on, without the "configuration saved" lines. */
    const logsSince = (from: readonly number[] = []) =>
      sentinels
        .map((sentinel, index) => {
          let text = '';
          try {
            text = readFileSync(logFile(sentinel.port))
              .subarray(from[index] ?? 0)
              .toString('utf8');
          } catch (error) {
            text = `(no log: ${String(error)})`;
          }
          const lines = text.split('\n').filter((line) => line !== '' && !line.includes('configuration saved'));
          return `sentinel ${sentinel.port}:\n${lines.slice(-25).join('\n')}`;
        })
        .join('\n');
    /** Where the setup stands: each sentinel's master and TILT flag, then their log lines since `from`. */
    const sentinelState = async (from: readonly number[]) => {
      const views = await masterViews();
      const tilts = await Promise.all(
        sentinels.map((sentinel) =>
          redisCli(sentinel.port, 'info', 'sentinel')
            .then((info) => /sentinel_tilt:(\d)/.exec(info)?.[1] ?? '?')
            .catch(() => '?'),
        ),
      );
      return `sentinels (master; tilt): ${sentinels
        .map((sentinel, index) => `${sentinel.port} -> ${views[index]}; ${tilts[index]}`)
        .join(', ')}\n${logsSince(from)}`;
    };

    let restartedMaster = master;
    return {
      url: `redis+sentinel://${sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',')}/${masterName}`,
      masterName,
      master,
      replica,
      sentinels,
      cutReplication: () => link.cut(),
      logs: () => logsSince(),
      async restartOldMaster() {
        const from = sentinels.map((sentinel) => logSize(sentinel.port));
        const port = restartedMaster.port;
        restartedMaster = restartedMaster.restart();
        processes.push(restartedMaster);
        const restarted = restartedMaster;
        // Two steps of Sentinel's own pace: a sentinel turns a returning master into a replica once it
        // has reported that role for 4 hello periods, seen by INFO (~5 s here, ~11-20 s at Sentinel's
        // default pace, +30 s for each sentinel TILT); then the replica syncs. The bound detects a
        // setup that never converges, not a speed: each step gets its own, and the failure says where
        // it stood. What can never converge fails at once.
        const cannotConverge = async () => {
          if (!alive(restarted)) {
            throw new GiveUp(
              `the old master did not start again on port ${port} (exit ${restarted.process.exitCode ?? restarted.process.signalCode}; another process may have taken the port)`,
            );
          }
          const views = await masterViews();
          if (views.includes(`127.0.0.1:${port}`)) {
            throw new GiveUp(
              `the sentinels failed over to the returning (empty) old master on ${port}: they name the master at ${views.join(', ')}\n${await sentinelState(from)}`,
            );
          }
        };
        const state = async () => {
          const fields = (await redisCli(port, 'info', 'replication').catch((error: unknown) => String(error)))
            .split('\n')
            .filter((line) => /^(role|master_host|master_port|master_link_status|master_sync_in_progress):/.test(line))
            .map((line) => line.trim());
          return `old master on ${port}: ${fields.join(' ')}; ${await sentinelState(from)}`;
        };
        await waitFor(
          'the sentinels to turn the old master into a replica',
          async () => {
            await cannotConverge();
            return (await redisCli(port, 'role')).startsWith('slave');
          },
          90_000,
          state,
        );
        await waitFor(
          'the old master in sync as a replica',
          async () => {
            if (!alive(restarted)) throw new GiveUp(`the old master on ${port} exited`);
            const info = await redisCli(port, 'info', 'replication');
            return info.includes('role:slave') && info.includes('master_link_status:up');
          },
          60_000,
          state,
        );
      },
      async crashMaster() {
        const from = sentinels.map((sentinel) => logSize(sentinel.port));
        // Quick crash detection only for this failover (see CALM_DOWN_AFTER_MS).
        await setDownAfter(options.downAfterMs ?? 1000);
        try {
          await master.kill();
          const promoted = async () => {
            const views = await masterViews();
            const agreed = views.every((view) => view === `127.0.0.1:${replica.port}`);
            return agreed && (await redisCli(replica.port, 'role')).startsWith('master');
          };
          const state = () => sentinelState(from);
          try {
            await waitFor('the sentinels to promote the replica', promoted, 15_000);
          } catch {
            // The sentinels' leader election can split its votes on a loaded machine (all three see
            // the master down within Sentinel's 1 s desync); a sentinel then retries only after twice
            // the failover timeout (2 min here, which must stay long: see above). The failover itself
            // is what the tests need, not the vote: once the failed election has been abandoned
            // (Sentinel's 10 s election timeout), one sentinel is told to fail over.
            await waitFor(
              'a sentinel to accept SENTINEL FAILOVER',
              async () => {
                for (const sentinel of sentinels) {
                  // An error reply (-INPROG: this one's election is not abandoned yet) tries the next one.
                  const answer = await redisCli(sentinel.port, 'sentinel', 'failover', masterName).catch(() => '');
                  if (answer.trim() === 'OK') return true;
                }
                return promoted();
              },
              30_000,
              state,
            );
            await waitFor('the sentinels to promote the replica', promoted, 30_000, state);
          }
        } catch (error) {
          await setDownAfter(CALM_DOWN_AFTER_MS).catch(() => undefined);
          throw error;
        }
        await setDownAfter(CALM_DOWN_AFTER_MS);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
