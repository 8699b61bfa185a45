import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, it } from 'vitest';
import { freePort } from '../../../test-support/ports.js';
import { describeWithRedisBinaries, waitFor } from '../../../test-support/redis-cluster.js';
import { openRedis, type RedisConnection } from '../src/redis-connection.js';

// A Sentinel client of `hmac-kit serve` must never give up reconnecting. ioredis' failover detector
// (failoverDetector: true, subscribed to +switch-master) disconnects the connector when the message
// comes; when that happens while the client, its master gone, is asking a sentinel for the master's
// address in a reconnect, ioredis rejects that connect ("Connection is closed.") and ends the client
// for good (status "end"): every command fails, so every request is refused with 503 until the
// process restarts. Seen as "request 20 answered" timing out (20 s of 503) in redis-topologies under
// load, where the crash's +switch-master can land in a reconnect's sentinel query.
//
// Here a scripted sentinel answers the master's address only after a delay we set, so the message
// lands in that window every time; the master is a real redis-server.

/** A sentinel speaking just enough RESP: the master's address (after `delayMs`), no other sentinels, SUBSCRIBE. */
function fakeSentinel(masterPort: number) {
  const subscribers = new Set<Socket>();
  const state = { delayMs: 0, asked: 0 };
  const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  const server: Server = createServer((socket) => {
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('close', () => subscribers.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseCommand(buffer);
        if (parsed === undefined) return;
        buffer = parsed.rest;
        const [name = '', sub = ''] = parsed.args.map((arg) => arg.toLowerCase());
        if (name === 'sentinel' && sub === 'get-master-addr-by-name') {
          state.asked++;
          const reply = `*2\r\n${bulk('127.0.0.1')}${bulk(String(masterPort))}`;
          setTimeout(() => socket.write(reply), state.delayMs);
        } else if (name === 'sentinel' && sub === 'sentinels') {
          socket.write('*0\r\n');
        } else if (name === 'subscribe') {
          subscribers.add(socket);
          socket.write(`*3\r\n${bulk('subscribe')}${bulk(parsed.args[1] ?? '')}:1\r\n`);
        } else {
          socket.write('+OK\r\n');
        }
      }
    });
  });
  return {
    server,
    state,
    subscribed: () => subscribers.size,
    /** What a sentinel publishes when it has failed the master over (here: to the same address). */
    switchMaster() {
      const message = `hmackit 127.0.0.1 ${masterPort} 127.0.0.1 ${masterPort}`;
      for (const socket of subscribers)
        socket.write(`*3\r\n${bulk('message')}${bulk('+switch-master')}${bulk(message)}`);
    },
  };
}

function parseCommand(buffer: Buffer): { args: string[]; rest: Buffer } | undefined {
  if (buffer.length === 0 || buffer[0] !== 0x2a) return undefined;
  let at = buffer.indexOf('\r\n');
  if (at === -1) return undefined;
  const count = Number(buffer.toString('utf8', 1, at));
  at += 2;
  const args: string[] = [];
  for (let index = 0; index < count; index++) {
    const end = buffer.indexOf('\r\n', at);
    if (end === -1) return undefined;
    const length = Number(buffer.toString('utf8', at + 1, end));
    at = end + 2;
    if (buffer.length < at + length + 2) return undefined;
    args.push(buffer.toString('utf8', at, at + length));
    at += length + 2;
  }
  return { args, rest: buffer.subarray(at) };
}

function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

describeWithRedisBinaries('hmac-kit serve on Sentinel: the clients keep reconnecting', () => {
  let redis: ChildProcess | undefined;
  let sentinel: ReturnType<typeof fakeSentinel> | undefined;
  let connection: RedisConnection | undefined;

  afterEach(async () => {
    await connection?.close();
    if (redis) {
      redis.kill('SIGKILL');
      await exited(redis);
    }
    await new Promise<void>((resolve) => (sentinel ? sentinel.server.close(() => resolve()) : resolve()));
  });

  it('follows a +switch-master that comes while a reconnect asks a sentinel for the master', async () => {
    const port = await freePort();
    redis = startRedis(port);
    sentinel = fakeSentinel(port);
    const fake = sentinel;
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    const sentinelPort = (fake.server.address() as { port: number }).port;
    connection = openRedis(`redis+sentinel://127.0.0.1:${sentinelPort}/hmackit`, {
      onError: () => undefined,
      onReady: () => undefined,
    });
    const { client, subscriber } = connection;
    await waitFor('both clients ready', async () => client.status === 'ready' && subscriber.status === 'ready', 15_000);
    // Each client's failover detector has subscribed to +switch-master.
    await waitFor('both failover detectors subscribed', async () => fake.subscribed() >= 2, 15_000);

    // The master crashes; from now on the sentinel takes 1.5 s to name it, so the clients'
    // reconnects sit in that query when the failover is announced.
    fake.state.delayMs = 1500;
    const crashed = redis;
    crashed.kill('SIGKILL');
    await exited(crashed);
    const asked = fake.state.asked;
    await waitFor('both clients asking the sentinel again', async () => fake.state.asked >= asked + 2, 15_000);
    fake.switchMaster();
    // The "new" master is up (same address) and the sentinel answers at once again.
    fake.state.delayMs = 0;
    redis = startRedis(port);

    await waitFor(
      'both clients back on the master',
      async () => (await client.ping()) === 'PONG' && subscriber.status === 'ready',
      15_000,
      async () => `command client ${client.status}, subscriber ${subscriber.status}`,
    );
  }, 60_000);
});
