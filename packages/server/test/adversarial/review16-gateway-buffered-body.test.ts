/**
 * Review 16: the gateway's buffered-body fast path (gateway.ts `completeBody`, listener.ts
 * `contentLengthBodyBuffered`, f0a0c04/54a27c5): a Content-Length body all buffered is taken
 * before Node's parser marks the message complete. Attacked over raw sockets at both ends (an
 * in-process rfc9421 gateway with a Content-Digest covered by the signature, a raw upstream that
 * records the bytes it receives): can a client make the gateway verify one body and forward
 * another? The framings tried: extra bytes right after the body (a pipelined request with a body
 * of its own), Content-Length with leading zeros, duplicate Content-Length, Content-Length beside
 * Transfer-Encoding, HTTP/1.0, Expect: 100-continue (body with the head and after the 100), and
 * any split of the bytes on the wire with or without one tampered body byte (fast-check). In every
 * case the upstream gets exactly the signed body or nothing. No defect found (review16).
 */
import { randomBytes } from 'node:crypto';
import { signMessage } from '@hmac-kit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { until } from '../../../../test-support/wait.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { recordingConnection } from '../support/raw-http.js';

/** A recording connection (support/raw-http.ts) that can also send a piece in a read of its own. */
function rawClient(origin: string) {
  const connection = recordingConnection(origin);
  return {
    ...connection,
    text: connection.received,
    statuses: () => (connection.received().match(/HTTP\/1\.1 \d{3}/g) ?? []).map((line) => line.slice(9)),
    /** Writes one piece and waits a macrotask, so that the gateway sees it in a read of its own. */
    send: async (piece: Buffer) => {
      await new Promise<void>((resolve) => connection.socket.write(piece, () => resolve()));
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('review16: the buffered Content-Length body fast path forwards what was verified', () => {
  let fixture: RawUpstreamGateway;
  let host: string;

  beforeAll(async () => {
    fixture = await startRawUpstreamGateway('review16-body');
    host = new URL(fixture.server.url).host;
  });

  afterAll(async () => {
    await fixture?.close();
  });

  /**
   * A signed POST as raw bytes: `lines` replaces the request line's version and adds header lines
   * the signature does not cover; `length` writes the Content-Length value as given (default: the
   * body's length in digits).
   */
  async function signed(
    path: string,
    body: Buffer,
    options: { version?: string; extra?: string[]; length?: string } = {},
  ) {
    const prepared = await signMessage(
      {
        method: 'POST',
        url: `${fixture.server.url}${path}`,
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(body),
      },
      fixture.key,
    );
    const lines = [
      `POST ${path} HTTP/${options.version ?? '1.1'}`,
      `Host: ${host}`,
      `X-Forwarded-For: ${freshAddress()}`,
      'Content-Type: application/octet-stream',
      `Content-Length: ${options.length ?? String(body.length)}`,
      ...(options.extra ?? []),
    ];
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    expect(Object.keys(prepared.headers).map((name) => name.toLowerCase())).toContain('content-digest');
    return { head: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body };
  }

  const seenAt = (path: string) =>
    fixture.upstream.seen.filter((entry) => entry.requestLine.startsWith(`POST ${path} `));

  it('extra bytes after the body are the next request, with its own body: each body goes with its own signature', async () => {
    const first = await signed('/r16-pipe-1', randomBytes(64));
    const second = await signed('/r16-pipe-2', randomBytes(64));
    // The second request's body is the first one's: its digest does not match, so it must not pass.
    const swapped = await signed('/r16-pipe-3', randomBytes(64));
    const client = rawClient(fixture.server.url);
    await client.send(Buffer.concat([first.head, first.body, second.head, second.body, swapped.head, first.body]));
    await client.until(() => client.statuses().length >= 3 || client.isClosed());
    expect(client.statuses()).toEqual(['200', '200', '401']);
    expect(seenAt('/r16-pipe-1').map((entry) => entry.body)).toEqual([first.body]);
    expect(seenAt('/r16-pipe-2').map((entry) => entry.body)).toEqual([second.body]);
    expect(seenAt('/r16-pipe-3')).toEqual([]);
    client.socket.destroy();
  });

  it('a Content-Length with leading zeros frames the body as the parser does', async () => {
    const request = await signed('/r16-zeros', randomBytes(40), { length: '00040' });
    const client = rawClient(fixture.server.url);
    await client.send(Buffer.concat([request.head, request.body]));
    await client.until(() => client.statuses().length >= 1 || client.isClosed());
    expect(client.statuses()).toEqual(['200']);
    expect(seenAt('/r16-zeros').map((entry) => entry.body)).toEqual([request.body]);
    client.socket.destroy();
  });

  it('duplicate Content-Length, and Content-Length beside Transfer-Encoding, are refused before any route', async () => {
    const body = randomBytes(10);
    const duplicate = await signed('/r16-dup', body, { extra: ['Content-Length: 10'] });
    const conflicting = await signed('/r16-dup-2', body, { extra: ['Content-Length: 4'] });
    const listed = await signed('/r16-dup-3', body, { length: '10, 10' });
    const both = await signed('/r16-te', body, { extra: ['Transfer-Encoding: chunked'] });
    for (const request of [duplicate, conflicting, listed, both]) {
      const client = rawClient(fixture.server.url);
      await client.send(
        Buffer.concat([request.head, Buffer.from('a\r\n'), request.body, Buffer.from('\r\n0\r\n\r\n')]),
      );
      await client.until(() => client.isClosed());
      expect(client.statuses()).toEqual(['400']);
    }
    for (const path of ['/r16-dup', '/r16-dup-2', '/r16-dup-3', '/r16-te']) expect(seenAt(path)).toEqual([]);
  });

  it('HTTP/1.0: the body is framed by its Content-Length; bytes after it are never forwarded', async () => {
    const request = await signed('/r16-http10', randomBytes(80), { version: '1.0' });
    const client = rawClient(fixture.server.url);
    await client.send(Buffer.concat([request.head, request.body]));
    await client.until(() => client.isClosed());
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(seenAt('/r16-http10').map((entry) => entry.body)).toEqual([request.body]);

    // Bytes after an HTTP/1.0 message (no keep-alive): Node's parser answers 400 and closes. Whatever
    // happens to the signed request, its body is never mixed with them and they never go upstream.
    const followed = await signed('/r16-http10-2', randomBytes(80), { version: '1.0' });
    const second = rawClient(fixture.server.url);
    await second.send(Buffer.concat([followed.head, followed.body, Buffer.from('GET /admin HTTP/1.0\r\n\r\n')]));
    await second.until(() => second.isClosed());
    expect(seenAt('/r16-http10-2').every((entry) => entry.body.equals(followed.body))).toBe(true);
    expect(fixture.upstream.seen.some((entry) => entry.requestLine.startsWith('GET /admin '))).toBe(false);
  });

  it('Expect: 100-continue, the body sent with the head or after the 100: the signed body is forwarded', async () => {
    const together = await signed('/r16-expect-1', randomBytes(50), { extra: ['Expect: 100-continue'] });
    const first = rawClient(fixture.server.url);
    await first.send(Buffer.concat([together.head, together.body]));
    await first.until(() => / 200 /.test(first.text()) || first.isClosed());
    expect(seenAt('/r16-expect-1').map((entry) => entry.body)).toEqual([together.body]);
    first.socket.destroy();

    const after = await signed('/r16-expect-2', randomBytes(50), { extra: ['Expect: 100-continue'] });
    const second = rawClient(fixture.server.url);
    await second.send(after.head);
    await second.until(() => second.text().startsWith('HTTP/1.1 100 ') || second.isClosed());
    // Half of it, then the rest: the part is never taken for the whole.
    await second.send(after.body.subarray(0, 25));
    await second.send(after.body.subarray(25));
    await second.until(() => / 200 /.test(second.text()) || second.isClosed());
    expect(second.statuses()).toEqual(['100', '200']);
    expect(seenAt('/r16-expect-2').map((entry) => entry.body)).toEqual([after.body]);
    second.socket.destroy();
  });

  /** How many request heads the gateway has accepted (its verification histogram's count). */
  async function headsAccepted(): Promise<number> {
    const { values } = await fixture.server.metrics.verificationSeconds.get();
    return (
      values.find((value) => value.metricName.endsWith('_count') && value.labels.outcome === 'accepted')?.value ?? 0
    );
  }

  it('the head and part of the body in one write, the rest only once the head was verified: the part is not taken for the body', async () => {
    const request = await signed('/r16-partial', randomBytes(300));
    const client = rawClient(fixture.server.url);
    const before = await headsAccepted();
    // The gateway looks at the buffer right after the head's stages: then it holds 200 of 300 bytes.
    await client.send(Buffer.concat([request.head, request.body.subarray(0, 200)]));
    await until(async () => (await headsAccepted()) > before || client.isClosed());
    await client.send(request.body.subarray(200));
    await client.until(() => client.statuses().length >= 1 || client.isClosed());
    expect(client.statuses()).toEqual(['200']);
    expect(seenAt('/r16-partial').map((entry) => entry.body)).toEqual([request.body]);
    client.socket.destroy();
  });

  it('any split of the bytes on the wire, a tampered byte or not: the upstream gets the signed body or nothing (fast-check)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (bytes, cuts, tamperAt) => {
          const path = `/r16-split-${run++}`;
          const request = await signed(path, Buffer.from(bytes));
          const sent = Buffer.from(request.body);
          if (tamperAt !== undefined) sent[tamperAt % sent.length] = (sent[tamperAt % sent.length] ?? 0) ^ 0x01;
          const message = Buffer.concat([request.head, sent]);
          const points = [...new Set(cuts.map((cut) => 1 + (cut % (message.length - 1))))].sort((a, b) => a - b);
          const client = rawClient(fixture.server.url);
          for (const [index, start] of [0, ...points].entries()) {
            await client.send(message.subarray(start, [...points, message.length][index]));
          }
          await client.until(() => client.statuses().length >= 1 || client.isClosed());
          client.socket.destroy();
          if (tamperAt === undefined) {
            expect(client.statuses()).toEqual(['200']);
            expect(seenAt(path).map((entry) => entry.body)).toEqual([request.body]);
          } else {
            expect(client.statuses()).toEqual(['401']);
            expect(seenAt(path)).toEqual([]);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
