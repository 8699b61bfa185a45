import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect as http2Connect, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { type PeerCertificate, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll } from 'vitest';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { recordSocket } from './raw-http.js';

/** A test CA and two server certificates it signed for localhost / 127.0.0.1 (made with openssl). */
export interface TestCertificates {
  caFile: string;
  ca: Buffer;
  /** Two distinct leaf certificates (`first`, `second`): a reload swaps one for the other. */
  first: { certFile: string; keyFile: string; serial: string };
  second: { certFile: string; keyFile: string; serial: string };
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
}

/** Makes a CA and two leaf certificates in `dir` with the openssl command line. */
export function makeCertificates(dir: string): TestCertificates {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=hmac-kit test CA',
    ],
    dir,
  );
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const leaf = (name: string, serial: string) => {
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=localhost ${name}`,
      ],
      dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${serial}`,
        '-days',
        '2',
        '-extfile',
        'leaf.ext',
        '-out',
        `${name}.pem`,
      ],
      dir,
    );
    return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`), serial: serial.toUpperCase() };
  };
  return {
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem')),
    first: leaf('first', '1a1a1a'),
    second: leaf('second', '2b2b2b'),
  };
}

/** Opens a TLS connection to 127.0.0.1:port as `localhost` offering `alpn`; resolves once the handshake is done. */
export function tlsSocket(
  port: number,
  ca: Buffer,
  options: { alpn?: string[]; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {},
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca,
      ALPNProtocols: options.alpn ?? ['h2', 'http/1.1'],
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * An HTTP/1.1 client connection to `url`'s port on 127.0.0.1 that records what the server sends
 * (support/raw-http.ts `recordSocket`): over TLS offering only `http/1.1` when `ca` is given, plain
 * otherwise; resolves once connected (handshake done).
 *
 * @example
 * ```ts
 * const client = await recordedHttp1Connection(server.url, transport === 'tls' ? certs.ca : undefined);
 * client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
 * ```
 */
export async function recordedHttp1Connection(url: string, ca: Buffer | undefined) {
  const port = Number(new URL(url).port);
  if (ca !== undefined) return recordSocket(await tlsSocket(port, ca, { alpn: ['http/1.1'] }));
  const socket = netConnect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  return recordSocket(socket);
}

/** The serial number of the certificate a TLS socket's peer presented, upper-case hex. */
export function servedSerial(socket: TLSSocket): string {
  const certificate: PeerCertificate = socket.getPeerCertificate();
  return certificate.serialNumber.replace(/^0+/, '').toUpperCase();
}

/** An HTTP/2 session to the server (`:authority` localhost:port) over one TLS connection. */
export async function http2Session(
  port: number,
  ca: Buffer,
): Promise<{ session: ClientHttp2Session; socket: TLSSocket }> {
  const socket = await tlsSocket(port, ca, { alpn: ['h2'] });
  if (socket.alpnProtocol !== 'h2') throw new Error(`server did not select h2 (got ${socket.alpnProtocol})`);
  const session = http2Connect(`https://localhost:${port}`, { createConnection: () => socket });
  session.on('error', () => {});
  return { session, socket };
}

/** One HTTP/2 request: resolves status, headers and body text. */
export function http2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: string | string[],
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (received) => {
      responseHeaders = received;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () =>
      resolve({
        status: Number(responseHeaders[':status']),
        headers: responseHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      }),
    );
    stream.on('error', reject);
    if (body !== undefined) {
      // Several DATA frames and no content-length: a body whose length the server learns at the end.
      for (const part of Array.isArray(body) ? body : [body]) stream.write(part);
      stream.end();
    }
  });
}

/**
 * Opens an HTTP/2 request with a body and writes it one byte every `intervalMs` until the server
 * closes the stream (a slow-body attack): resolves the answer's status and body text, 0 and ''
 * when the stream was reset without one.
 */
export async function trickleHttp2Body(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  intervalMs: number,
): Promise<{ status: number; answer: string }> {
  const stream = session.request(headers);
  stream.on('error', () => {});
  let status = 0;
  let answer = '';
  stream.on('response', (received) => {
    status = Number(received[':status']);
  });
  stream.on('data', (chunk: Buffer) => {
    answer += chunk.toString('utf8');
  });
  const timer = setInterval(() => {
    if (!stream.destroyed) stream.write('x');
  }, intervalMs);
  await new Promise<void>((resolve) => stream.once('close', () => resolve()));
  clearInterval(timer);
  return { status, answer };
}

/** A `hmac-kit serve` over TLS started by {@link startTlsServe}, with its folder and certificates. */
export interface TlsServe {
  dir: string;
  certs: TestCertificates;
  server: ServeProcess;
  port: number;
}

/**
 * Starts `hmac-kit serve` over TLS (the first test certificate) on a SQLite file in a temporary folder
 * of its own, with `--headers-timeout 1s` and `flags`: the set-up of the slow-peer tests over TLS.
 *
 * @example
 * const { server, port, certs } = await startTlsServe(['--keep-alive-timeout', '1s']);
 */
export async function startTlsServe(flags: string[] = []): Promise<TlsServe> {
  buildOnce();
  const dir = tempDir();
  const certs = makeCertificates(dir);
  const server = await startServe(
    [
      '--db',
      join(dir, 'hmac-kit.db'),
      '--headers-timeout',
      '1s',
      ...flags,
      '--tls-cert',
      certs.first.certFile,
      '--tls-key',
      certs.first.keyFile,
    ],
    { cwd: dir },
  );
  return { dir, certs, server, port: Number(new URL(server.url).port) };
}

/** {@link startTlsServe} for a describe block, and the raw sockets its tests open. */
export interface TlsServeSuite extends TlsServe {
  /** Sockets the tests opened: destroyed after the block, before the server stops. */
  sockets: TLSSocket[];
}

/**
 * Starts a {@link startTlsServe} server before the tests of the describe block it is called in and
 * stops it after them, destroying the sockets the tests pushed to `sockets` first. Its fields are
 * there once the block's tests run.
 *
 * @example
 * const suite = tlsServeSuite(['--keep-alive-timeout', '1s']);
 * it('...', async () => { const { socket } = await rawH2(suite.port, suite.certs.ca); suite.sockets.push(socket); });
 */
export function tlsServeSuite(flags: string[] = []): TlsServeSuite {
  const suite = { sockets: [] as TLSSocket[] } as TlsServeSuite;
  beforeAll(async () => {
    Object.assign(suite, await startTlsServe(flags));
  });
  afterAll(async () => {
    for (const socket of suite.sockets) socket.destroy();
    await suite.server?.stop();
  });
  return suite;
}
