/**
 * Review 19: the builtin upstream client against undici's Pool on the same hostile answer bytes
 * (fast-check). An upstream answers a first request with bytes built from framing pieces (bodiless
 * statuses with a length, conflicting or short lengths, chunked bodies, interim answers, a second
 * "answer" appended), split at random points with pauses between the pieces; then it answers the
 * next request on the connection `next-ok`. Property: the builtin client never hands the next
 * request anything but its own answer (or an error) where undici does not either: it is never the
 * worse of the two at keeping the connection in step. (Where both hand the stray bytes on, that is
 * inherent to HTTP/1.1 keep-alive: bytes written after an answer looked complete.) Before review 19's
 * fixes it found the HEAD case in under 200 runs: `HTTP/1.1 200 OK, Content-Length: 5`, a pause, then
 * a whole second answer; undici closes after every HEAD, the builtin client handed that answer on.
 * `REVIEW19_RUNS=300` for a longer run.
 */
import { createServer as createNetServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinClient } from '../src/upstream/client.js';
import type { UpstreamClient, UpstreamHandler } from '../src/upstream/types.js';

const SMUGGLED = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';

const statusLine = fc.constantFrom(
  'HTTP/1.1 200 OK',
  'HTTP/1.1 204 No Content',
  'HTTP/1.1 304 Not Modified',
  'HTTP/1.0 200 OK',
  'HTTP/1.1 404 Not Found',
);
const interim = fc.constantFrom('', 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n');
const framing = fc.constantFrom(
  ['Content-Length: 5'],
  ['Content-Length: 0'],
  ['Content-Length: 9'],
  ['Content-Length: 3'],
  ['Transfer-Encoding: chunked'],
  ['Content-Length: 5', 'Transfer-Encoding: chunked'],
  ['Content-Length: 5', 'Content-Length: 5'],
  [],
);
const extra = fc.constantFrom([], ['Connection: close'], ['Keep-Alive: timeout=30'], ['Connection: keep-alive']);
const body = fc.constantFrom(
  '',
  'hello',
  '5\r\nhello\r\n0\r\n\r\n',
  '5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
  'hel',
  'helloworld',
);
const tail = fc.constantFrom('', SMUGGLED, '\r\n', 'garbage');

/**
 * One case: the first answer's pieces (interim answer, head, body, tail), each boundary a pause or
 * not, one more split at a random byte, and the pause (ms).
 */
const answerCase = fc
  .record({
    interim,
    statusLine,
    framing,
    extra,
    body,
    tail,
    head: fc.boolean(),
    pauses: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    split: fc.option(fc.nat()),
    pause: fc.integer({ min: 1, max: 15 }),
  })
  .map((value) => {
    const parts = [
      value.interim,
      `${[value.statusLine, ...value.framing, ...value.extra].join('\r\n')}\r\n\r\n`,
      value.body,
      value.tail,
    ];
    // Joined where no pause is asked for; a boundary with a pause starts a new piece.
    const pieces: string[] = [parts[0] as string];
    for (let index = 1; index < parts.length; index++) {
      if (value.pauses[index - 1]) pieces.push(parts[index] as string);
      else pieces[pieces.length - 1] += parts[index] as string;
    }
    if (value.split !== null) {
      const at = value.split % pieces.length;
      const piece = pieces[at] as string;
      const cut = piece.length === 0 ? 0 : value.split % piece.length;
      pieces.splice(at, 1, piece.slice(0, cut), piece.slice(cut));
    }
    return {
      method: value.head ? 'HEAD' : 'GET',
      pieces: pieces.filter((piece) => piece.length > 0),
      pause: value.pause,
    };
  });

type Case = { method: string; pieces: string[]; pause: number };

let current: Case = { method: 'GET', pieces: [], pause: 0 };

/** Requests one connection after the other (as a sequential server): the next is read once the answer was written. */
async function startUpstream() {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let text = '';
    let busy = false;
    const serve = async () => {
      if (busy) return;
      busy = true;
      for (;;) {
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) break;
        const line = text.slice(0, text.indexOf('\r\n'));
        text = text.slice(end + 4);
        if (line.includes(' /next ')) {
          if (!socket.destroyed) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnext-ok');
          continue;
        }
        const { pieces, pause } = current;
        for (let index = 0; index < pieces.length; index++) {
          if (index > 0 && pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
          if (!socket.destroyed) socket.write(pieces[index] as string, 'latin1');
        }
      }
      busy = false;
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      void serve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A request's outcome: `body:<text>` or `error`; given up on after `ms`. */
function send(client: UpstreamClient, origin: string, method: string, path: string, ms = 400): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let abort: ((reason?: Error) => void) | undefined;
    const timer = setTimeout(() => {
      abort?.(new Error('given up'));
      resolve('timeout');
    }, ms);
    const handler: UpstreamHandler = {
      onConnect: (stop) => {
        abort = stop;
      },
      onHeaders: () => true,
      onData: (chunk) => {
        chunks.push(Buffer.from(chunk));
        return true;
      },
      onComplete: () => {
        clearTimeout(timer);
        resolve(`body:${Buffer.concat(chunks).toString('latin1')}`);
      },
      onError: () => {
        clearTimeout(timer);
        resolve('error');
      },
    };
    client.dispatch({ origin, path, method, headers: [], body: null }, handler);
  });
}

describe('review19: builtin client against undici on hostile answer bytes (fast-check)', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let undici: UpstreamClient;
  let builtin: UpstreamClient;

  beforeAll(async () => {
    upstream = await startUpstream();
    // One connection each: the next request goes on the connection the first answer left, if kept.
    undici = new Pool(upstream.origin, {
      connections: 1,
      pipelining: 1,
      headersTimeout: 300,
      bodyTimeout: 300,
    }) as unknown as UpstreamClient;
    builtin = createBuiltinClient(upstream.origin, { timeoutMs: 300, connections: 1 });
  });

  afterAll(async () => {
    await undici?.close();
    await builtin?.close();
    await upstream?.close();
  });

  it('after an unsolicited 100 Continue the connection is not reused (the case fast-check found in CI)', async () => {
    // undici fails the request on the 100 and closes; the builtin client skips the 100 (RFC 9110
    // §15.2) and relays the answer, but must not keep the connection: the stray answer the upstream
    // writes a moment later went to the next request (session 19, fresh-clone CI, seed -1191461248).
    current = {
      method: 'GET',
      pieces: ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhel', SMUGGLED],
      pause: 30,
    };
    expect(await send(builtin, upstream.origin, 'GET', '/first')).toBe('body:hel');
    expect(await send(builtin, upstream.origin, 'GET', '/next', 2_000)).toBe('body:next-ok');
  });

  /** Both clients on one case, one after the other: the next request's outcome per client. */
  async function outcomesOf(answer: Case): Promise<Record<string, string>> {
    const outcomes: Record<string, string> = {};
    for (const [name, client] of [
      ['undici', undici],
      ['builtin', builtin],
    ] as const) {
      current = answer;
      await send(client, upstream.origin, answer.method, '/first');
      // Once the upstream has written the whole first answer (its pauses included).
      outcomes[name] = await send(client, upstream.origin, 'GET', '/next', 400 + answer.pieces.length * answer.pause);
      // Let a stray byte still on its way land before the next case.
      await new Promise((resolve) => setTimeout(resolve, answer.pieces.length * answer.pause + 5));
    }
    return outcomes;
  }

  it('the next request gets its own answer (or an error) whenever undici gives it its own', async () => {
    const own = (outcome: string | undefined) =>
      outcome === 'body:next-ok' || outcome === 'error' || outcome === 'timeout';
    const builtinWorse = (outcomes: Record<string, string>) => !own(outcomes.builtin) && own(outcomes.undici);
    await fc.assert(
      fc.asyncProperty(answerCase, async (answer) => {
        if (!builtinWorse(await outcomesOf(answer))) return true;
        // Bytes an upstream writes after an answer that looked complete reach whichever request is
        // on the connection when they land: where that is a race (a pause of a few ms on a loaded
        // machine), the two clients can each win or lose it, one run apiece. A difference counts
        // when it is reproducible: every defect found so far (HEAD, a body on GET, 204/304 with a
        // body, an unsolicited 100 Continue) lost in every repeat.
        for (let repeat = 0; repeat < 3; repeat++) {
          if (!builtinWorse(await outcomesOf(answer))) return true;
        }
        return false;
      }),
      { numRuns: Number(process.env.REVIEW19_RUNS ?? 60) },
    );
  }, 120_000);
});
