/**
 * Session 25 (helper review25b): adversarial review of parser25's 'clientError' listener
 * (listener.ts answerClientError), against a real in-process `hmac-kit serve`, plain and over TLS
 * (HTTP/1.1 by ALPN). Each attack is a raw socket.
 */
import { connect, type Socket } from 'node:net';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import { startInProcess } from '../support/in-process.js';
import { makeCertificates, tlsSocket } from '../support/tls.js';
import { tempDir } from '../../../../test-support/processes.js';

const SECRET = 'sk_live_review25b_0123456789abcdef';

function recording(socket: Socket) {
  let received = '';
  let closed = false;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  return {
    socket,
    received: () => received,
    isClosed: () => closed,
    async closed(): Promise<string> {
      while (!closed) await new Promise<void>((resolve) => (wake = resolve));
      return received;
    },
  };
}

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

  async function open() {
    const port = Number(new URL(server.url).port);
    if (transport === 'tls') return recording(await tlsSocket(port, ca as Buffer, { alpn: ['http/1.1'] }));
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    return recording(socket);
  }

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
});
