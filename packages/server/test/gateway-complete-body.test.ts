/**
 * The gateway's buffered-body fast path (gateway.ts `completeBody`): a request whose declared
 * `Content-Length` of body is all buffered is taken at once, before Node's parser has marked the
 * message complete. Held to the general reader (`wholeBody`) over real node:http requests: the same
 * bytes for any body and any split of the bytes on the wire, never a byte of the next request on
 * the connection (pipelining), never a partial body, no fast path for chunked bodies, and the
 * request still ends and closes, so keep-alive goes on.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completeBody, wholeBody } from '../src/gateway.js';
import { closedAfterEachTest } from './support/local-http.js';

const { servers, sockets } = closedAfterEachTest();

interface Read {
  /** What the route read, and whether the fast path gave it. */
  body: Buffer;
  fast: boolean;
  /** `complete` when the route looked (false: the fast path ran before the end was parsed). */
  complete: boolean;
  ended: Promise<void>;
}

/**
 * A server whose route does what the gateway does after its awaited header stages (a microtask
 * later): `completeBody` (unless `generalOnly`), else `wholeBody`; then answers with the body's length.
 */
async function startServer(generalOnly: boolean, limit = 1 << 20): Promise<{ port: number; reads: Read[] }> {
  const reads: Read[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    const ended = new Promise<void>((resolve) => request.once('close', resolve));
    queueMicrotask(async () => {
      const complete = request.complete;
      const fast = generalOnly ? undefined : completeBody(request, limit);
      try {
        const body = fast ?? (await wholeBody(request, limit));
        reads.push({ body, fast: fast !== undefined, complete, ended });
        response.end(String(body.length));
      } catch {
        response.statusCode = 413;
        response.end();
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, reads };
}

/** Writes `pieces` one by one (a macrotask apart) on one connection; resolves with all it received once `answers` answers came. */
async function exchange(port: number, pieces: Buffer[], answers: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  let received = '';
  const done = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if ((received.match(/HTTP\/1\.1 /g) ?? []).length >= answers && /\r\n\r\n\d*$/.test(received)) resolve(received);
    });
    socket.on('error', reject);
  });
  for (const piece of pieces) {
    socket.write(piece);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return done;
}

const post = (body: Buffer, extra = '') =>
  Buffer.concat([Buffer.from(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n${extra}\r\n`), body]);

describe('gateway completeBody', () => {
  it('takes a fully buffered body before the message is complete, and the request still ends and closes', async () => {
    const { port, reads } = await startServer(false);
    const body = Buffer.from('{"amount":1}');
    // Two requests on one keep-alive connection, each head and body in one write.
    await exchange(port, [post(body)], 1);
    await exchange(port, [post(body), post(Buffer.from('second'))], 2);
    expect(reads.map((read) => read.body.toString())).toEqual(['{"amount":1}', '{"amount":1}', 'second']);
    expect(reads[0]?.fast).toBe(true);
    expect(reads[0]?.complete).toBe(false);
    await Promise.all(reads.map((read) => read.ended));
  });

  it('attack: a pipelined request right after the body is not part of it', async () => {
    const { port, reads } = await startServer(false);
    const smuggled = Buffer.from('GET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = await exchange(port, [Buffer.concat([post(Buffer.from('abc')), smuggled])], 2);
    expect(reads[0]?.body.toString()).toBe('abc');
    expect(answer.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });

  it('does not take a body still arriving, nor a chunked one', async () => {
    const { port, reads } = await startServer(false);
    const whole = post(Buffer.from('0123456789'));
    await exchange(port, [whole.subarray(0, whole.length - 4), whole.subarray(whole.length - 4)], 1);
    const chunked = Buffer.from(
      'POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    await exchange(port, [chunked], 1);
    expect(reads.map((read) => read.body.toString())).toEqual(['0123456789', 'hello']);
    // The split one may have arrived whole by the time the route looked (loopback); a chunked one never takes the
    // Content-Length branch (it is taken only once complete).
    expect(reads[1]?.fast === false || reads[1]?.complete === true).toBe(true);
  });

  it('gives what wholeBody gives, for any body and any split on the wire (fast-check)', async () => {
    const fast = await startServer(false);
    const general = await startServer(true);
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        async (bytes, cuts) => {
          const message = post(Buffer.from(bytes));
          const points = [...new Set(cuts.map((cut) => 1 + (cut % (message.length - 1))))].sort((a, b) => a - b);
          const pieces = [0, ...points].map((start, index) =>
            message.subarray(start, [...points, message.length][index]),
          );
          const before = [fast.reads.length, general.reads.length];
          await exchange(fast.port, pieces, 1);
          await exchange(general.port, pieces, 1);
          expect(fast.reads[before[0] as number]?.body.equals(Buffer.from(bytes))).toBe(true);
          expect(fast.reads[before[0] as number]?.body).toEqual(general.reads[before[1] as number]?.body);
        },
      ),
      { numRuns: 40 },
    );
  });
});
