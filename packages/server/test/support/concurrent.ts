import { connect, type Socket } from 'node:net';
import { signed } from '../../../../test-support/cli-client.js';
import { until } from '../../../../test-support/wait.js';
import { type PipelinedAnswer, takeAnswer } from './pipelined.js';

/** One request of {@link concurrentExchange}: GET with no body unless it names a method and body. */
export interface ConcurrentRequest {
  path: string;
  headers: Record<string, string>;
  method?: string;
  body?: string;
}

/** The bytes of one HTTP/1.1 request, as {@link concurrentExchange} and pipelinedExchange write it. */
export function requestBytes(url: URL, { path, headers, method = 'GET', body }: ConcurrentRequest): string {
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${url.host}`];
  if (body !== undefined) lines.push(`content-length: ${Buffer.byteLength(body)}`);
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

/**
 * Sends each request on a connection of its own, all written in the same tick once every
 * connection is open (so that the server is likely to read them in one turn of its event loop:
 * one check-phase batch), and resolves their answers in the order of `requests`. An answer is
 * read as Content-Length framed (what the server sends for its own answers and the test upstreams
 * send); a connection that closes before its answer resolves `undefined` for it.
 *
 * @example
 * const answers = await concurrentExchange(new URL(server.url), Array(4).fill({ path: '/verify', headers }));
 */
export async function concurrentExchange(
  url: URL,
  requests: readonly ConcurrentRequest[],
  options: {
    /**
     * The server, when it runs in this process: the requests are written once it has accepted
     * every connection (a connection accepted in the turn its first bytes are read has them read
     * in a turn of its own).
     */
    server?: {
      on(event: 'connection', listener: () => void): unknown;
      off(event: 'connection', listener: () => void): unknown;
    };
  } = {},
): Promise<Array<PipelinedAnswer | undefined>> {
  let accepted = 0;
  const onConnection = () => {
    accepted++;
  };
  options.server?.on('connection', onConnection);
  const sockets: Socket[] = await Promise.all(
    requests.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(Number(url.port), url.hostname, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  if (options.server) {
    try {
      await until(() => accepted >= requests.length);
    } finally {
      options.server.off('connection', onConnection);
    }
  }
  const answers = sockets.map(
    (socket) =>
      new Promise<PipelinedAnswer | undefined>((resolve) => {
        let buffered = Buffer.alloc(0);
        socket.on('error', () => {});
        socket.on('close', () => resolve(undefined));
        socket.on('data', (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          const taken = takeAnswer(buffered);
          if (taken === undefined) return;
          resolve(taken.answer);
          socket.end();
        });
      }),
  );
  for (const [index, socket] of sockets.entries())
    socket.write(requestBytes(url, requests[index] as ConcurrentRequest));
  return Promise.all(answers);
}

/**
 * Which turn of the server's event loop each request arrived in, by its `x-test-seq` header: a
 * 'request' listener added after the server's own (so it runs once the route has queued its
 * verification) notes the current turn, and a `setImmediate` queued by the first request of a turn
 * (after the route's check-phase batch, in the same check phase) starts the next. Requests of one
 * turn were verified in one check-phase batch. `stop()` removes the listener.
 */
export function watchTurns(server: {
  on(event: 'request', listener: (request: { headers: Record<string, unknown> }) => void): unknown;
  off(event: 'request', listener: (request: { headers: Record<string, unknown> }) => void): unknown;
}): { turnOf: Map<string, number>; stop(): void } {
  const turnOf = new Map<string, number>();
  let turn = 0;
  let scheduled = false;
  const listener = (request: { headers: Record<string, unknown> }) => {
    const seq = request.headers['x-test-seq'];
    if (typeof seq === 'string') turnOf.set(seq, turn);
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        turn++;
      });
    }
  };
  server.on('request', listener);
  return { turnOf, stop: () => server.off('request', listener) };
}

/**
 * A forward-auth check (`/verify`, nginx's X-Original-* and X-Forwarded-* spellings) of a GET of
 * `http://api.example.com/orders/7` signed with `signer`, from `address`; numbered `seq` in an
 * unsigned `x-test-seq` header when given (see {@link watchTurns}).
 */
export async function forwardAuthCheck(
  signer: { keyId: string; secret: string },
  address: string,
  seq?: string,
): Promise<ConcurrentRequest> {
  const request = await signed(signer, 'GET', 'http://api.example.com/orders/7');
  return {
    path: '/verify',
    headers: {
      ...(request.init.headers as Record<string, string>),
      'x-original-uri': '/orders/7',
      'x-original-method': 'GET',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'http',
      'x-forwarded-for': address,
      ...(seq === undefined ? {} : { 'x-test-seq': seq }),
    },
  };
}
