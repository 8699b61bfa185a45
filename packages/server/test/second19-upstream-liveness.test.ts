/**
 * Second review of `--upstream-client builtin` (session 19, helper "second19"): liveness and
 * resource use of the builtin client's pool on every error path, and the stale keep-alive race.
 *
 * - Each error path (a malformed answer, no answer within the timeout, an answer cut mid-body, a
 *   client that aborts after the answer started, an upstream that resets the connection under a
 *   streamed upload, a socket reset while idle) must give its connection back to the pool's count:
 *   afterwards the pool's open count equals the connections the upstream still holds, and a next
 *   request is served (no slot leaked, no request stuck).
 * - A connection the upstream closes while it is being reused: the request fails (a 502 at the
 *   gateway), and it is never sent a second time (a POST must not be delivered twice).
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilValue } from '../../../test-support/wait.js';
import { createBuiltinClient } from '../src/upstream/client.js';
import type { UpstreamClient, UpstreamHandler } from '../src/upstream/types.js';

interface Upstream {
  url: string;
  open(): number;
  requests: string[];
  close(): Promise<void>;
}

/** Answers each request line by its path; `/reset-next` answers, then resets the connection at the next request's first byte. */
async function startUpstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server: Server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let resetNext = false;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      if (resetNext) {
        requests.push(chunk.toString('latin1').split(' ').slice(0, 2).join(' '));
        socket.resetAndDestroy();
        return;
      }
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const [method, path] = buffered.slice(0, end).split(' ');
        buffered = buffered.slice(end + 4);
        requests.push(`${method} ${path}`);
        switch (path) {
          case '/malformed':
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n');
            break;
          case '/silent':
            break;
          case '/cut':
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-some');
            setTimeout(() => socket.destroy(), 20);
            break;
          case '/long':
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst');
            break;
          case '/upload-reset':
            setTimeout(() => socket.resetAndDestroy(), 20);
            return;
          case '/reset-next':
            resetNext = true;
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
            return;
          default:
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    open: () => sockets.size,
    requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function run(
  client: UpstreamClient,
  upstream: Upstream,
  method: string,
  path: string,
  body: Buffer | null | AsyncIterable<Buffer> = null,
  onStarted?: (abort: (reason?: Error) => void) => void,
): Promise<string> {
  return new Promise((resolve) => {
    let abort: (reason?: Error) => void = () => {};
    let status = 0;
    let text = '';
    const handler: UpstreamHandler = {
      onConnect(abortRequest) {
        abort = abortRequest;
      },
      onHeaders(statusCode) {
        status = statusCode;
        if (statusCode >= 200) onStarted?.(abort);
        return true;
      },
      onData(chunk) {
        text += chunk.toString('latin1');
        return true;
      },
      onComplete() {
        resolve(`${status} ${text}`);
      },
      onError(error) {
        resolve(`error ${error.name}`);
      },
    };
    client.dispatch({ origin: upstream.url, path, method, headers: [], body }, handler);
  });
}

const openOf = (client: UpstreamClient) => (client as unknown as { open: number }).open;

describe('second19: builtin client liveness', () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('every error path gives its connection back: the open count matches the upstream and the next request is served', async () => {
    const client = createBuiltinClient(upstream.url, { timeoutMs: 300, connections: 2 });
    expect(await run(client, upstream, 'GET', '/malformed')).toBe('error UpstreamAnswerError');
    expect(await run(client, upstream, 'GET', '/silent')).toBe('error HeadersTimeoutError');
    expect(await run(client, upstream, 'GET', '/cut')).toMatch(/^error /);
    expect(await run(client, upstream, 'GET', '/long', null, (abort) => abort())).toBe('error RequestAbortedError');
    async function* slowUpload() {
      for (let index = 0; index < 50; index++) {
        yield Buffer.alloc(64 * 1024, 0x61);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    expect(await run(client, upstream, 'POST', '/upload-reset', slowUpload())).toMatch(/^error /);
    // Ten at once through the two connections: none stuck.
    const many = await Promise.all(Array.from({ length: 10 }, () => run(client, upstream, 'GET', '/ok')));
    expect(many).toEqual(Array(10).fill('200 ok'));
    // The upstream sees the closes a moment after the pool made them: a condition, not a fixed 50 ms.
    await untilValue(
      () => (openOf(client) === upstream.open() ? true : undefined),
      `the pool's open count (${openOf(client)}) to match the upstream's (${upstream.open()})`,
    );
    expect(openOf(client)).toBeLessThanOrEqual(2);
    await client.close();
  }, 15_000);

  it('a reused connection reset under a POST: an error, and the POST reached the upstream at most once (never retried)', async () => {
    const client = createBuiltinClient(upstream.url, { timeoutMs: 1000, connections: 1 });
    expect(await run(client, upstream, 'GET', '/reset-next')).toBe('200 ok');
    const before = upstream.requests.length;
    // The reset itself (ECONNRESET, as undici hands it over too): the gateway's 502.
    expect(await run(client, upstream, 'POST', '/once', Buffer.from('pay 100'))).toMatch(/^error /);
    // The pool recovers: a fresh connection serves the next one. Through the one connection, after
    // a retry of the POST had there been one (was: whatever came within a fixed 100 ms).
    expect(await run(client, upstream, 'GET', '/ok')).toBe('200 ok');
    expect(upstream.requests.slice(before)).toEqual(['POST /once', 'GET /ok']);
    await client.close();
  });
});
