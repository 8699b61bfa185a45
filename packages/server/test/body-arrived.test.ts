/**
 * listener.ts `bodyArrived`: the body-rate watch is skipped for a request whose body is judged
 * already there a microtask after its head. Held to what a reader then gets, over real node:http
 * requests (fast-check over bodies and splits of the bytes on the wire): whenever it says arrived,
 * the buffered bytes are the whole body as sent; a chunked body is never judged arrived before its end.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyArrived } from '../src/listener.js';
import { closedAfterEachTest } from './support/local-http.js';

const { servers, sockets } = closedAfterEachTest();

interface Seen {
  arrived: boolean;
  complete: boolean;
  buffered: Buffer | undefined;
}

async function startServer(): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    queueMicrotask(() => {
      const arrived = bodyArrived(request);
      const complete = request.complete;
      const buffered = arrived ? ((request.read() as Buffer | null) ?? Buffer.alloc(0)) : undefined;
      seen.push({ arrived, complete, buffered });
      request.resume();
      request.once('end', () => response.end('ok'));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen };
}

/** Writes `pieces` a macrotask apart (`gapMs` apart when given: the server, in this process, then reads each on its own). */
async function send(port: number, pieces: Buffer[], gapMs?: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  for (const piece of pieces) {
    socket.write(piece);
    await new Promise((resolve) => (gapMs === undefined ? setImmediate(resolve) : setTimeout(resolve, gapMs)));
  }
  await answered;
}

describe('bodyArrived', () => {
  it('says arrived only when the buffered bytes are the whole body (fast-check over bodies and splits)', async () => {
    const { port, seen } = await startServer();
    let arrivedSeen = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        async (bytes, cuts) => {
          const body = Buffer.from(bytes);
          const message = Buffer.concat([
            Buffer.from(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`),
            body,
          ]);
          const points = [...new Set(cuts.map((cut) => 1 + (cut % (message.length - 1))))].sort((a, b) => a - b);
          const ends = [...points, message.length];
          const before = seen.length;
          await send(
            port,
            [0, ...points].map((start, index) => message.subarray(start, ends[index])),
          );
          const entry = seen[before];
          if (entry?.arrived && !entry.complete) {
            arrivedSeen++;
            expect(entry.buffered?.equals(body)).toBe(true);
          }
        },
      ),
      { numRuns: 40 },
    );
    // The unsplit cases take the branch: the property is not vacuous.
    expect(arrivedSeen).toBeGreaterThan(0);
  });

  it('never takes a chunked body for arrived before its end, nor a partial one', async () => {
    const { port, seen } = await startServer();
    await send(port, [
      Buffer.from('POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
    ]);
    await send(
      port,
      [Buffer.from('POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234'), Buffer.from('56789')],
      100,
    );
    expect(seen[0]?.arrived && !seen[0]?.complete).toBe(false);
    expect(seen[1]?.arrived && !seen[1]?.complete).toBe(false);
  });
});
