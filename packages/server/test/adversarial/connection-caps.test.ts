/**
 * Connection exhaustion against the real `hmac-kit serve` (listener.ts `capConnections`, the
 * headers timeout). The attacks:
 *
 * - one client opens connections until the process runs out of file descriptors or memory, and
 *   every other client is locked out. With `--max-connections` a connection beyond the cap is
 *   closed as soon as it is accepted, counted and logged (rate-limited), and the connections
 *   already open (a genuine client's kept-alive one) keep working; slots free up as the attacker
 *   closes. `--max-connections-per-address` keeps one peer address from taking every slot;
 *   counted by the socket's peer address, since no header has arrived when a connection is counted.
 * - slowloris: a client that never sends a complete request head (nothing at all, or one header
 *   line at a time) used to hold its connection for ever (`requestTimeout: 0` made Node's
 *   `headersTimeout` 0 too); now it is closed after `--headers-timeout`, and over TLS a connection
 *   that never finishes its handshake is closed after the same bound.
 *
 * Small caps and a 1 s headers timeout are configured so that every wait is for a condition.
 */

import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, type IssuedKey } from '../../../../test-support/cli-client.js';
import { headersOf } from '../../../../test-support/http-framing.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { dechunk } from '../support/raw-http.js';
import { http2Request, http2Session, makeCertificates, type TestCertificates, tlsSocket } from '../support/tls.js';

interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One raw connection (TCP, or TLS already established by the caller), used the way a keep-alive
 * client uses it: a request, its whole response, then the next request on the same connection.
 */
function rawClient(socket: Socket) {
  let buffer = '';
  let everything = '';
  let closed = false;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    everything += chunk.toString('latin1');
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  const waitFor = async (ready: () => boolean) => {
    while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
  };
  return {
    socket,
    isClosed: () => closed,
    /** Every byte the server sent so far. */
    received: () => everything,
    /** Resolves once the server has closed the connection. */
    closed: () => waitFor(() => closed),
    /** Writes a request head and reads its response (Content-Length or chunked). */
    async exchange(head: string): Promise<Response> {
      socket.write(head);
      await waitFor(() => buffer.includes('\r\n\r\n') || closed);
      const headEnd = buffer.indexOf('\r\n\r\n');
      if (headEnd === -1) throw new Error('connection closed before a response');
      const [statusLine = '', ...lines] = buffer.slice(0, headEnd).split('\r\n');
      const headers = headersOf(lines);
      const rest = () => buffer.slice(headEnd + 4);
      let body: string;
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        await waitFor(() => rest().includes('\r\n0\r\n\r\n') || rest().startsWith('0\r\n\r\n') || closed);
        const end = rest().startsWith('0\r\n\r\n') ? 5 : rest().indexOf('\r\n0\r\n\r\n') + 7;
        body = dechunk(rest().slice(0, end));
        buffer = rest().slice(end);
      } else {
        const length = Number(headers['content-length'] ?? 0);
        await waitFor(() => rest().length >= length || closed);
        body = rest().slice(0, length);
        buffer = rest().slice(length);
      }
      return { status: Number(statusLine.split(' ')[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') };
    },
  };
}
type RawClient = ReturnType<typeof rawClient>;

/** A TCP connection to `url`'s port, from `localAddress` when given (any of 127/8 on Linux). */
function tcpClient(url: string, localAddress?: string): RawClient {
  const { hostname, port } = new URL(url);
  return rawClient(connect({ port: Number(port), host: hostname, ...(localAddress ? { localAddress } : {}) }));
}

/** Resolves true once connected (the kernel's handshake: the server may still refuse it after). */
function connected(client: RawClient): Promise<boolean> {
  if (!client.socket.connecting) return Promise.resolve(!client.isClosed());
  return new Promise((resolve) => {
    client.socket.once('connect', () => resolve(true));
    client.socket.once('close', () => resolve(false));
  });
}

/**
 * Writes one header line every 100 ms to `trickler` (its head is never finished) until every one of
 * `closing` (the trickler among them) is closed: without a head bound this never ends.
 */
async function trickleUntilClosed(trickler: RawClient, closing: RawClient[]): Promise<void> {
  const writer = setInterval(() => {
    if (!trickler.socket.destroyed) trickler.socket.write('X-Trickle: 1\r\n');
  }, 100);
  try {
    await Promise.all(closing.map((client) => client.closed()));
  } finally {
    clearInterval(writer);
  }
}

/** A signed `GET path` request head for `url`'s server (RFC 9421, a fresh nonce). */
async function signedHead(key: IssuedKey, url: string, path: string): Promise<string> {
  const { headers } = await signMessage({ method: 'GET', url: `${url}${path}`, headers: {} }, key);
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${new URL(url).host}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The value of one metric series in a Prometheus text answer (`name{labels}` as written). */
function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const refusalLines = (server: ServeProcess, reason: string) =>
  server.logs.filter((line) => String(line.msg).startsWith('connections refused') && line.reason === reason);

describe('connection caps and the request-head bound of hmac-kit serve', () => {
  let dir: string;
  let db: string;
  let key: IssuedKey;
  const servers: ServeProcess[] = [];
  const clients: RawClient[] = [];

  /** Starts serve on the test's database (every process reads the key at start). */
  async function serve(args: string[]): Promise<ServeProcess> {
    const server = await startServe(['--db', db, ...args], { cwd: dir });
    servers.push(server);
    return server;
  }
  /** A client closed at the end of the file whatever happens. */
  function track<T extends RawClient>(client: T): T {
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'conn-caps');
  });

  afterAll(async () => {
    for (const client of clients) client.socket.destroy();
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('closes connections beyond --max-connections at once; kept-alive ones keep working; slots free up', async () => {
    // Loopback is a trusted proxy by default, so the per-address cap (2) does not apply to these
    // connections: only the total does (a proxy in front carries every client).
    const server = await serve([
      '--max-connections',
      '6',
      '--max-connections-per-address',
      '2',
      '--headers-timeout',
      '10m',
    ]);
    const whoami = () => signedHead(key, server.url, '/v1/whoami');
    const genuine = track(tcpClient(server.url));
    expect((await genuine.exchange(await whoami())).status).toBe(200);
    const scrape = async () => (await genuine.exchange(`GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n`)).body;

    // The attacker fills every other slot with connections that send nothing.
    const attackers = Array.from({ length: 5 }, () => track(tcpClient(server.url)));
    await until(async () => metric(await scrape(), 'hmac_kit_connections_open') === 6);

    const extra = Array.from({ length: 4 }, () => track(tcpClient(server.url)));
    await Promise.all(extra.map((client) => client.closed()));
    expect(extra.map((client) => client.received())).toEqual(['', '', '', '']);
    expect(attackers.some((client) => client.isClosed())).toBe(false);

    // The genuine client's kept-alive connection is still served: signed requests and the scrape.
    expect((await genuine.exchange(await whoami())).status).toBe(200);
    expect(genuine.isClosed()).toBe(false);
    const text = await scrape();
    expect(metric(text, 'hmac_kit_connections_refused_total{reason="max_connections"}')).toBe(4);
    expect(metric(text, 'hmac_kit_connections_refused_total{reason="max_connections_per_address"}')).toBe(0);
    expect(metric(text, 'hmac_kit_connections_open')).toBe(6);
    expect(metric(text, 'hmac_kit_connections_limit')).toBe(6);

    // One warning for the burst, not one per refused connection.
    await until(() => refusalLines(server, 'max_connections').length > 0);
    const lines = refusalLines(server, 'max_connections');
    expect(lines.length).toBeLessThan(4);
    expect(lines[0]).toMatchObject({ level: 'warn', refused: 1, limit: 6, address: '127.0.0.1' });

    // Once the attacker lets go, new connections are served again.
    for (const client of attackers) client.socket.destroy();
    await until(async () => {
      const fresh = track(tcpClient(server.url));
      try {
        return (await fresh.exchange(await whoami())).status === 200;
      } catch {
        return false;
      } finally {
        fresh.socket.destroy();
      }
    });
  });

  it('closes connections beyond --max-connections-per-address for that peer address only', async () => {
    // No trusted proxy on loopback here: 127.0.0.1 is an ordinary client address.
    const server = await serve([
      '--max-connections',
      '50',
      '--max-connections-per-address',
      '3',
      '--trusted-proxies',
      '192.0.2.1',
      '--headers-timeout',
      '10m',
    ]);
    const whoami = () => signedHead(key, server.url, '/v1/whoami');
    const genuine = track(tcpClient(server.url, '127.0.0.2'));
    expect((await genuine.exchange(await whoami())).status).toBe(200);
    const scrape = async () => (await genuine.exchange(`GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n`)).body;

    const attackers = Array.from({ length: 3 }, () => track(tcpClient(server.url, '127.0.0.1')));
    await until(async () => metric(await scrape(), 'hmac_kit_connections_open') === 4);
    const extra = Array.from({ length: 3 }, () => track(tcpClient(server.url, '127.0.0.1')));
    await Promise.all(extra.map((client) => client.closed()));
    expect(extra.map((client) => client.received())).toEqual(['', '', '']);
    expect(attackers.some((client) => client.isClosed())).toBe(false);

    // Another address still gets new connections, and the open one keeps working.
    const other = track(tcpClient(server.url, '127.0.0.3'));
    expect((await other.exchange(await whoami())).status).toBe(200);
    expect((await genuine.exchange(await whoami())).status).toBe(200);
    const text = await scrape();
    expect(metric(text, 'hmac_kit_connections_refused_total{reason="max_connections_per_address"}')).toBe(3);
    expect(metric(text, 'hmac_kit_connections_refused_total{reason="max_connections"}')).toBe(0);
    await until(() => refusalLines(server, 'max_connections_per_address').length > 0);
    expect(refusalLines(server, 'max_connections_per_address')[0]).toMatchObject({
      refused: 1,
      limit: 3,
      address: '127.0.0.1',
    });

    // A slot of that address frees up when one of its connections closes.
    attackers[0]?.socket.destroy();
    await until(async () => {
      const fresh = track(tcpClient(server.url, '127.0.0.1'));
      try {
        return (await fresh.exchange(await whoami())).status === 200;
      } catch {
        return false;
      } finally {
        fresh.socket.destroy();
      }
    });
  });

  it('caps connections per worker with --workers: N workers accept N times --max-connections', async () => {
    const server = await serve(['--workers', '2', '--max-connections', '2', '--headers-timeout', '10m']);
    const health = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const outcome = (client: RawClient) =>
      client.exchange(health).then(
        (response) => response.status,
        () => 'closed',
      );
    // The supervisor (Node's round-robin handle) hands a connection to a worker that has acknowledged
    // its last one, and a worker that acknowledges takes the next queued one: in a flood, a worker
    // slow to acknowledge (a loaded machine) may get fewer connections than its cap while the other
    // closes the rest. One at a time, each worker is free again when the next connection comes:
    // each gets its --max-connections (the loop's bound only ends a failing run).
    const attempts: RawClient[] = [];
    const outcomes: Array<number | string> = [];
    while (outcomes.filter((status) => status === 200).length < 4 && attempts.length < 12) {
      const client = track(tcpClient(server.url));
      attempts.push(client);
      outcomes.push(await outcome(client));
    }
    expect(outcomes.filter((status) => status === 200)).toHaveLength(4);
    // Every worker at its cap: each connection of a flood is closed, whichever worker gets it.
    const flood = Array.from({ length: 8 }, () => track(tcpClient(server.url)));
    attempts.push(...flood);
    expect(await Promise.all(flood.map(outcome))).toEqual(Array(8).fill('closed'));

    // The metrics of both workers, summed by whichever worker answers the scrape.
    for (const client of attempts) client.socket.destroy();
    let text = '';
    await until(async () => {
      const scraper = track(tcpClient(server.url));
      try {
        text = (await scraper.exchange('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body;
        return true;
      } catch {
        return false;
      } finally {
        scraper.socket.destroy();
      }
    });
    expect(metric(text, 'hmac_kit_connections_limit')).toBe(4);
    expect(metric(text, 'hmac_kit_connections_refused_total{reason="max_connections"}')).toBeGreaterThanOrEqual(8);
  });

  describe('--headers-timeout (plain HTTP)', () => {
    let server: ServeProcess;
    beforeAll(async () => {
      server = await serve(['--headers-timeout', '1s']);
    });

    it('closes a connection that sends nothing, and one that trickles its header lines, after the bound', async () => {
      const whoami = () => signedHead(key, server.url, '/v1/whoami');
      // A genuine keep-alive client, idle for longer than the headers timeout below.
      const genuine = track(tcpClient(server.url));
      expect((await genuine.exchange(await whoami())).status).toBe(200);

      const started = Date.now();
      const silent = track(tcpClient(server.url));
      const trickler = track(tcpClient(server.url));
      expect(await connected(trickler)).toBe(true);
      trickler.socket.write(`GET /v1/whoami HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n`);
      await trickleUntilClosed(trickler, [silent, trickler]);
      const elapsed = Date.now() - started;
      // Not before the bound; well within it plus the check interval (250 ms) and a loaded host's
      // timer delays (Node's own check interval, 30 s, would have been far past this).
      expect(elapsed).toBeGreaterThanOrEqual(1_000);
      expect(elapsed).toBeLessThan(15_000);
      expect(trickler.received()).toMatch(/^HTTP\/1\.1 408 /);
      expect(silent.received()).toMatch(/^HTTP\/1\.1 408 /);

      // Idle between requests is the keep-alive timeout's business, not the headers timeout's.
      expect(genuine.isClosed()).toBe(false);
      expect((await genuine.exchange(await whoami())).status).toBe(200);
    });

    it('closes a kept-alive connection whose next request head is trickled', async () => {
      const client = track(tcpClient(server.url));
      expect((await client.exchange(await signedHead(key, server.url, '/v1/whoami'))).status).toBe(200);
      client.socket.write('GET /healthz HTTP/1.1\r\n');
      await trickleUntilClosed(client, [client]);
      expect(client.received()).toMatch(/HTTP\/1\.1 408 /);
    });
  });

  describe('over TLS', () => {
    let certs: TestCertificates;
    let server: ServeProcess;
    let port: number;
    beforeAll(async () => {
      certs = makeCertificates(tempDir());
      server = await serve([
        '--tls-cert',
        certs.first.certFile,
        '--tls-key',
        certs.first.keyFile,
        '--headers-timeout',
        '1s',
        '--max-connections',
        '3',
      ]);
      port = Number(new URL(server.url).port);
    });

    it('closes a connection that never starts its TLS handshake, and one that trickles its head after it', async () => {
      const started = Date.now();
      const silent = track(tcpClient(`http://127.0.0.1:${port}`));
      const secure = await tlsSocket(port, certs.ca, { alpn: ['http/1.1'] });
      const trickler = track(rawClient(secure));
      trickler.socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost:${port}\r\n`);
      await trickleUntilClosed(trickler, [silent, trickler]);
      // Not a refusal (that would be at once): the bound ran out; and not Node's defaults (a 120 s
      // handshake timeout, a 60 s headers timeout checked every 30 s).
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1_000);
      expect(elapsed).toBeLessThan(15_000);
      expect(silent.received()).toBe('');
      expect(trickler.received()).toMatch(/^HTTP\/1\.1 408 /);
    });

    it('bounds the requests one HTTP/2 session carries at once (128, not Node 2^32-1); a client queues the rest', async () => {
      let opened: Awaited<ReturnType<typeof http2Session>> | undefined;
      await until(async () => {
        opened = await http2Session(port, certs.ca).catch(() => undefined);
        return opened !== undefined;
      });
      const session = opened?.session;
      if (!session) throw new Error('no session');
      try {
        // The server's SETTINGS come before its first response (before them the client assumes 100).
        expect((await http2Request(session, { ':method': 'GET', ':path': '/healthz' })).status).toBe(200);
        expect(session.remoteSettings.maxConcurrentStreams).toBe(128);
        const answers = await Promise.all(
          Array.from({ length: 150 }, () => http2Request(session, { ':method': 'GET', ':path': '/healthz' })),
        );
        expect(answers.every((answer) => answer.status === 200)).toBe(true);
      } finally {
        session.destroy();
      }
    });

    it('refuses a TLS connection beyond --max-connections before its handshake; HTTP/2 sessions open keep working', async () => {
      // Three HTTP/2 sessions hold every slot (a session is one connection, whatever its streams).
      const sessions: Array<Awaited<ReturnType<typeof http2Session>>> = [];
      try {
        while (sessions.length < 3) {
          // Connections of the test above may not be counted out yet: a refused one is tried again.
          const opened = await http2Session(port, certs.ca).catch(() => undefined);
          if (opened) sessions.push(opened);
        }
        for (const { session } of sessions) {
          expect((await http2Request(session, { ':method': 'GET', ':path': '/healthz' })).status).toBe(200);
        }
        await expect(tlsSocket(port, certs.ca)).rejects.toThrow();
        const plainAttempt = track(tcpClient(`http://127.0.0.1:${port}`));
        await plainAttempt.closed();

        const url = `https://localhost:${port}/v1/whoami`;
        const { headers } = await signMessage({ method: 'GET', url, headers: {} }, key);
        const first = sessions[0]?.session;
        if (!first) throw new Error('no session');
        const answer = await http2Request(first, { ':method': 'GET', ':path': '/v1/whoami', ...headers });
        expect(answer.status).toBe(200);
        await until(() => refusalLines(server, 'max_connections').length > 0);

        sessions.pop()?.session.close();
        await until(async () => {
          const fresh = await http2Session(port, certs.ca).catch(() => undefined);
          if (!fresh) return false;
          const ok = (await http2Request(fresh.session, { ':method': 'GET', ':path': '/healthz' })).status === 200;
          fresh.session.close();
          return ok;
        });
      } finally {
        for (const { session } of sessions) session.destroy();
      }
    });
  });
});
