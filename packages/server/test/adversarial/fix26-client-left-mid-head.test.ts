/**
 * A client that closes its connection in the middle of a request head (session 26, helper fix26).
 *
 * Node's parser reports the end of input mid-head as `HPE_INVALID_EOF_STATE` ('clientError', the
 * socket still writable: the server keeps half-open connections), and the 'clientError' listener
 * took every `HPE_*` for a malformed request: a `400 malformed_request` written to a client that
 * had left, counted in `hmac_kit_requests_total{code="malformed_request",route="none"}` and logged
 * at info as `request head refused`. A port scanner, a load balancer's TCP probe or a client that
 * gave up looked like a stream of malformed requests. A dropped connection is no request: nothing
 * is written, nothing counted as a request, one debug line says what happened. A head that is not
 * HTTP is still `400 malformed_request`, counted.
 */
import type { Duplex } from 'node:stream';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { startInProcess } from '../support/in-process.js';
import { memoryLog } from '../support/memory-log.js';
import { makeCertificates, recordedHttp1Connection } from '../support/tls.js';

describe.each(['plain', 'tls'] as const)('a client that leaves mid-head (%s)', (transport) => {
  let server: RunningServer;
  let log: ReturnType<typeof memoryLog>;
  let ca: Buffer | undefined;

  beforeAll(async () => {
    const tlsFlags: Record<string, string> = {};
    if (transport === 'tls') {
      const certs = makeCertificates(tempDir());
      ca = certs.ca;
      tlsFlags.tlsCert = certs.first.certFile;
      tlsFlags.tlsKey = certs.first.keyFile;
    }
    log = memoryLog('debug');
    server = await startInProcess({ logLevel: 'debug', ...tlsFlags }, {}, { logger: log.logger });
  });

  afterAll(async () => {
    await server?.close();
  });

  const open = () => recordedHttp1Connection(server.url, ca);

  /** Writes `bytes`, and once the kernel has them, the FIN: two segments when the host is quiet. */
  async function writeThenEnd(socket: Duplex, bytes: string) {
    await new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
    socket.end();
  }

  const malformedCount = async () => {
    const text = await server.metrics.registry.metrics();
    const match = /hmac_kit_requests_total\{outcome="rejected",code="malformed_request",route="none"\} (\d+)/.exec(
      text,
    );
    return Number(match?.[1] ?? 0);
  };
  const refusedLines = () => log.lines().filter((line) => line.msg === 'request head refused');
  const leftLines = () => log.lines().filter((line) => line.msg === 'client closed its connection mid-head');

  it.each([
    ['in the request line', 'GET /heal'],
    ['between header fields', 'GET /healthz HTTP/1.1\r\nHost: x\r\n'],
    ['before the blank line', 'GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r'],
  ])('closes %s: nothing written, not counted as a malformed request, one debug line', async (_where, bytes) => {
    const before = await malformedCount();
    const refusedBefore = refusedLines().length;
    const leftBefore = leftLines().length;
    const client = await open();
    // The bytes and the FIN may reach the server in one read or two: either way the parser takes
    // the bytes (a head not finished), then the end of input mid-head, so no wait between them.
    await writeThenEnd(client.socket, bytes);
    expect(await client.closed()).toBe('');
    await until(() => leftLines().length > leftBefore);
    expect(leftLines().at(-1)).toMatchObject({ level: 'debug' });
    expect(await malformedCount()).toBe(before);
    expect(refusedLines().length).toBe(refusedBefore);
  });

  it('closes mid-head after a finished answer on a kept-alive connection: that answer only', async () => {
    const before = await malformedCount();
    const client = await open();
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await client.until(() => client.received().includes('{"status":"ok"}'));
    await writeThenEnd(client.socket, 'GET /healthz HTTP/1.1\r\nHo');
    const received = await client.closed();
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(received).toContain('{"status":"ok"}');
    expect(await malformedCount()).toBe(before);
  });

  // review26: a malformed head does not escape by ending with a FIN. The parser refuses the bytes
  // as it reads them, ahead of the end of input that follows them in the same segment.
  it.each([
    ['a header line that is not one', 'GET / HTTP/1.1\r\nbad header line'],
    ['a TLS ClientHello on the plain port', '\x16\x03\x01\x02\x00\x01'],
    ['a Content-Length that is not a number', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x'],
    ['a bare LF in the request line', 'GET /\nHTTP/1.1'],
  ])(
    'garbage then FIN in one segment (%s): still 400 malformed_request, counted, no mid-head line',
    async (_what, bytes) => {
      const before = await malformedCount();
      const leftBefore = leftLines().length;
      const client = await open();
      client.socket.end(Buffer.from(bytes, 'latin1'));
      const received = await client.closed();
      expect(received).toMatch(/^HTTP\/1\.1 400 /);
      expect(received).toContain('"code":"malformed_request"');
      expect(await malformedCount()).toBe(before + 1);
      expect(leftLines().length).toBe(leftBefore);
    },
  );

  it("the debug line carries nothing of the client's bytes, only its address", async () => {
    const leftBefore = leftLines().length;
    const client = await open();
    await writeThenEnd(
      client.socket,
      'GET /?token=review26-secret HTTP/1.1\r\nAuthorization: Bearer review26-bearer\r\n',
    );
    await client.closed();
    await until(() => leftLines().length > leftBefore);
    const line = leftLines().at(-1) as Record<string, unknown>;
    const base = ['level', 'time', 'msg', 'pid', 'hostname', 'service'];
    expect(Object.keys(line).filter((key) => !base.includes(key))).toEqual(['remote']);
    expect(line.remote).toBe('127.0.0.1');
    expect(JSON.stringify(line)).not.toMatch(/review26-(secret|bearer)/);
  });

  it('a head that is not HTTP is still 400 malformed_request, counted and logged at info', async () => {
    const before = await malformedCount();
    const client = await open();
    client.socket.write('GET / HTTP/1.1\r\nbad header line\r\n\r\n');
    const received = await client.closed();
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain('"code":"malformed_request"');
    expect(await malformedCount()).toBe(before + 1);
    await until(() => refusedLines().some((line) => line.code === 'malformed_request'));
    // review26: the info line names the client (read before the socket is destroyed: a destroyed
    // TLS socket no longer knows its peer).
    expect(refusedLines().at(-1)).toMatchObject({ remote: '127.0.0.1' });
  });
});
