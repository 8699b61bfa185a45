/**
 * Session 25 (helper review25b): adversarial review of parser25's 'clientError' listener
 * (listener.ts answerClientError), against a real in-process `hmac-kit serve`, plain and over TLS
 * (HTTP/1.1 by ALPN). Each attack is a raw socket.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { startInProcess } from '../support/in-process.js';
import { recordSocket as recording } from '../support/raw-http.js';
import { makeCertificates, recordedHttp1Connection, tlsSocket } from '../support/tls.js';

const SECRET = 'sk_live_review25b_0123456789abcdef';

/** The status lines of every answer in `text` (each answer framed by its Content-Length). */
function statusLines(text: string): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      lines.push(`<partial: ${rest.length} bytes>`);
      break;
    }
    const head = rest.slice(0, headEnd).split('\r\n');
    lines.push(head[0] as string);
    const lengthLine = head.find((line) => /^content-length:/i.test(line));
    const length = lengthLine === undefined ? 0 : Number(lengthLine.split(':')[1]);
    rest = rest.slice(headEnd + 4 + length);
  }
  return lines;
}

describe.each(['plain', 'tls'] as const)('review25b: clientError answers (%s)', (transport) => {
  let server: RunningServer;
  let ca: Buffer | undefined;

  beforeAll(async () => {
    const flags: Record<string, string> = { headersTimeout: '1s' };
    if (transport === 'tls') {
      const certs = makeCertificates(tempDir());
      ca = certs.ca;
      flags.tlsCert = certs.first.certFile;
      flags.tlsKey = certs.first.keyFile;
    }
    server = await startInProcess(flags);
  });

  afterAll(async () => {
    await server?.close();
  });

  const open = () => recordedHttp1Connection(server.url, ca);

  it('a refused request whose drained chunked body then breaks: its one answer, never a second', async () => {
    // A POST refused before its body is read (no signature): Node drains the rest of the body on a
    // kept-alive connection. A bad chunk size in that drain is the same request's framing: it was
    // answered already, so a second answer (a 400 after the 401) is read by the client as the
    // answer to its next request.
    const client = await open();
    client.socket.write(
      `POST /v1/whoami HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Token: ${SECRET}\r\n\r\n5\r\nhello\r\n`,
    );
    await until(() => /\r\n\r\n/.test(client.received()) && statusLines(client.received()).length === 1);
    const first = statusLines(client.received());
    expect(first[0]).toMatch(/^HTTP\/1\.1 4\d\d /);
    client.socket.write('zz\r\n');
    const text = await client.closed();
    expect(statusLines(text)).toEqual(first);
    expect(text).not.toContain(SECRET);
  });

  it('a pipelined request whose chunked body breaks behind an answer still owed: each request one answer, in order', async () => {
    // /readyz answers after a promise: its answer is owed when the parser fails in the second
    // request's body. Nothing may be written ahead of /readyz's answer or for the broken request
    // beyond its own one answer.
    const client = await open();
    client.socket.write(
      `GET /readyz HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/whoami HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Token: ${SECRET}\r\n\r\n5\r\nhello\r\nzz\r\n`,
    );
    const text = await client.closed();
    const lines = statusLines(text);
    expect(lines[0]).toBe('HTTP/1.1 200 OK');
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines.filter((line) => line.startsWith('HTTP/1.1 400'))).toEqual([]);
    expect(text).not.toContain(SECRET);
  });

  it('a HEAD answered, then a malformed head: the HEAD answer (no body), then one problem, closed', async () => {
    const client = await open();
    client.socket.write('HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => client.received().includes('\r\n\r\n'));
    client.socket.write(`GET / HTTP/1.1\r\nX-Token: ${SECRET}\r\nbad line\r\n\r\n`);
    const text = await client.closed();
    const headEnd = text.indexOf('\r\n\r\n');
    // The HEAD answer's Content-Length frames no body: the next bytes are the problem's head.
    expect(text.slice(headEnd + 4).startsWith('HTTP/1.1 400 Bad Request\r\n')).toBe(true);
    expect(text.match(/HTTP\/1\.1 \d{3} [A-Z]/g), text).toHaveLength(2);
    expect(text).not.toContain(SECRET);
  });

  it('a malformed head behind an owed answer the client never reads: the socket is not held open forever', async () => {
    // The "owed answer, stop reading" state: the client pipelines a request and a malformed head,
    // then reads nothing. The owed answer is small (the kernel takes it), so the socket closes.
    const client = await open();
    client.socket.pause();
    client.socket.write(`GET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nbad line\r\n\r\n`);
    const connections = () =>
      new Promise<number>((resolve) => server.server.getConnections((_error, count) => resolve(count)));
    await until(async () => (await connections()) === 0);
    client.socket.resume();
    expect(statusLines(await client.closed())).toEqual(['HTTP/1.1 200 OK']);
  });

  it.runIf(transport === 'tls')(
    'HTTP/2 (ALPN h2) garbage after the preface: no HTTP/1.1 problem written, the server goes on serving',
    async () => {
      const port = Number(new URL(server.url).port);
      const socket = await tlsSocket(port, ca as Buffer, { alpn: ['h2'] });
      expect(socket.alpnProtocol).toBe('h2');
      const client = recording(socket);
      client.socket.write(`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET / HTTP/1.1\r\nX-Token: ${SECRET}\r\nbad line\r\n\r\n`);
      const text = await client.closed();
      // nghttp2 answers (a GOAWAY frame), never node:http's parser or this listener.
      expect(text).not.toContain('HTTP/1.1');
      expect(text).not.toContain(SECRET);
      const next = await open();
      next.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(statusLines(await next.closed())[0]).toBe('HTTP/1.1 200 OK');
    },
  );
});
