/**
 * review23: attacks on incoming.ts `FieldsIncomingMessage` (fa23, issue #15), the object every
 * route reads as `request.headers` (Host, Content-Length, Transfer-Encoding, Signature,
 * X-Forwarded-*): it must be node's own object for any head, or the gateway verifies one thing
 * and forwards another. Each head is sent over real sockets to a server with it and to a plain
 * node:http server, and what each handler sees is compared (prototype, own keys in order, values),
 * before and after the body (trailers), with heads that repeat each other's names (the shape
 * path), pipelined on one connection.
 *
 * Found: (1) a client sending fresh header names emptied the kept rules (the map was cleared when
 * full), so every other client's names were learnt again (two runs of node's line function each)
 * and the churner's own requests cost about twice node's getter; (2) `request.headers = null` then
 * read answered null where node's getter builds the object again.
 */
import { createServer, IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FieldsIncomingMessage, keptFieldRule } from '../../src/incoming.js';
import { closedAfterEachTest } from '../support/local-http.js';

const { servers, sockets } = closedAfterEachTest();

function described(headers: object | null): string {
  if (headers === null) return 'null';
  return JSON.stringify({
    prototype: Object.getPrototypeOf(headers) === Object.prototype,
    entries: Object.entries(headers),
    ownKeys: Reflect.ownKeys(headers).map(String),
  });
}

async function listen(fields: boolean, seen: Map<string, string>, tag: string): Promise<number> {
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const before = described(request.headers);
    request.resume();
    request.on('end', () => {
      seen.set(
        `${tag} ${request.url}`,
        JSON.stringify([before, described(request.headers), described(request.trailers)]),
      );
      response.end('ok');
    });
  };
  const server = fields ? createServer({ IncomingMessage: FieldsIncomingMessage }, handler) : createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Writes `bytes` on a new connection; resolves with the first status line once the server closes it. */
async function send(port: number, bytes: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.from(bytes, 'latin1'));
  await closed;
  return answer.split('\r\n')[0] ?? '';
}

let counter = 0;
function head(lines: string[], method = 'GET', body = ''): { path: string; bytes: string } {
  const path = `/h${counter++}`;
  return { path, bytes: `${method} ${path} HTTP/1.1\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n${body}` };
}

const PROTO = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'isPrototypeOf',
];
const DROPPED = [
  'Host',
  'Content-Type',
  'Authorization',
  'User-Agent',
  'Referer',
  'Proxy-Authorization',
  'Max-Forwards',
];
const JOINED = ['Accept', 'Signature', 'Signature-Input', 'Content-Digest', 'X-Forwarded-Host', 'X-Forwarded-Proto'];
const chunked = (trailers: string[]) => `5\r\nhello\r\n0\r\n${trailers.map((line) => `${line}\r\n`).join('')}\r\n`;

/** Heads an attacker would try, each twice in a row (the second takes the shape path when it can). */
function attackHeads(): string[][] {
  const heads: string[][] = [];
  for (const name of PROTO) heads.push(['Host: a', `${name}: x`, `${name}: y`], ['Host: a', `${name}: x`]);
  for (const names of [
    ['0', '1'],
    ['1', '0'],
    ['b', '0'],
    ['0', 'b'],
    ['10', '2', 'a'],
    ['4294967295', '4294967294'],
    ['01', '1'],
  ])
    heads.push(['Host: a', ...names.map((name, index) => `${name}: v${index}`)]);
  for (const name of DROPPED)
    heads.push([`${name}: one`, `${name.toUpperCase()}: two`, `${name.toLowerCase()}: three`, 'Host: a']);
  for (const name of JOINED) heads.push(['Host: a', `${name}: one`, `${name.toUpperCase()}: two`]);
  heads.push(['Host: a', 'Cookie: a=1', 'COOKIE: b=2', 'Set-Cookie: c', 'set-cookie: d']);
  heads.push(['Host: a', 'X-A: \x80\xff\xe9', 'X-B: a\tb', 'X-C:']);
  for (const fields of [31, 32, 33, 2000, 2001]) {
    const lines = ['Host: a'];
    for (let index = 0; lines.length < fields; index++) lines.push(`X-H${index % 7}: ${index}`);
    heads.push(lines);
  }
  for (const length of [64, 65]) heads.push(['Host: a', `${'x'.repeat(length)}: 1`]);
  return heads.flatMap((lines) => [lines, lines]);
}

describe('review23: request.headers under attack (FieldsIncomingMessage against node:http)', () => {
  it('every attack head, sent alone and pipelined: the handler sees what node:http builds', async () => {
    const seen = new Map<string, string>();
    const fieldsPort = await listen(true, seen, 'fields');
    const nodePort = await listen(false, seen, 'node');
    const cases: Array<{ paths: string[]; bytes: string }> = [];
    for (const lines of attackHeads()) {
      const { path, bytes } = head([...lines, 'Connection: close']);
      cases.push({ paths: [path], bytes });
    }
    // Trailers: node files them apart (request.trailers); the head's object must stay node's.
    for (const trailers of [
      ['X-T: 1', 'Signature: t'],
      Array.from({ length: 40 }, (_, index) => `X-T${index}: ${index}`),
    ]) {
      const { path, bytes } = head(
        ['Host: a', 'Transfer-Encoding: chunked', 'Trailer: X-T', 'Connection: close'],
        'POST',
        chunked(trailers),
      );
      cases.push({ paths: [path], bytes });
    }
    // Pipelined on one connection: shapes that repeat, differ by case only, or by one name.
    const pipelined = [
      ['Host: a', 'X-A: 1'],
      ['Host: a', 'X-A: 2'],
      ['Host: a', 'x-a: 3'],
      ['host: a', 'X-A: 4'],
      ['Host: a', 'X-A: 5', 'X-A: 6'],
      ['Host: a', '0: z', 'X-A: 1'],
      ['Host: a', '0: z', 'X-A: 1'],
      ['Host: a', 'X-A: 1', '0: z'],
      ['Host: a', 'X-A: 1', '0: z'],
      ['Host: a', 'Set-Cookie: 1'],
      ['Host: a', 'Set-Cookie: 2'],
      ['Host: a', 'HOST: b'],
      ['Host: c', 'HOST: d'],
      ['Host: a', 'constructor: 1'],
      ['Host: a', 'constructor: 1'],
      ['Host: a', 'Connection: close'],
    ].map((lines) => head(lines));
    cases.push({ paths: pipelined.map((one) => one.path), bytes: pipelined.map((one) => one.bytes).join('') });

    for (const { paths, bytes } of cases) {
      const fieldsStatus = await send(fieldsPort, bytes);
      const nodeStatus = await send(nodePort, bytes);
      expect(fieldsStatus).toBe(nodeStatus);
      for (const path of paths) {
        expect(seen.get(`fields ${path}`), path).toBe(seen.get(`node ${path}`));
        if (fieldsStatus.includes(' 200 ')) expect(seen.get(`fields ${path}`), path).toBeDefined();
      }
    }
  }, 30_000);

  it("a client sending fresh header names does not empty the rules other clients' names use", async () => {
    const seen = new Map<string, string>();
    const fieldsPort = await listen(true, seen, 'fields');
    const nodePort = await listen(false, seen, 'node');
    const legit = head(['Host: a', 'X-Review23-Legit: 1', 'Connection: close']);
    await send(fieldsPort, legit.bytes);
    expect(keptFieldRule('X-Review23-Legit')).toBeDefined();
    // 40 heads of 31 fresh names, pipelined: 1,240 names, several times the rules kept.
    const churn: Array<{ path: string; bytes: string }> = [];
    for (let request = 0; request < 40; request++) {
      const lines = ['Host: a'];
      for (let index = 0; index < 31; index++) lines.push(`X-Churn-${request}-${index}: v`);
      if (request === 39) lines.push('Connection: close');
      churn.push(head(lines));
    }
    const bytes = churn.map((one) => one.bytes).join('');
    await send(fieldsPort, bytes);
    await send(nodePort, bytes);
    for (const { path } of churn) {
      expect(seen.get(`fields ${path}`)).toBeDefined();
      expect(seen.get(`fields ${path}`)).toBe(seen.get(`node ${path}`));
    }
    expect(keptFieldRule('X-Review23-Legit')).toBeDefined();
    // Kept and new names mixed once the rules are full: the new ones filed by node's line function.
    for (const lines of [
      ['Host: a', 'X-Review23-Legit: 2'],
      ['Host: a', 'X-New-1: a', 'x-new-1: b', 'X-Review23-Legit: 3', 'x-review23-legit: 4'],
      ['Set-Cookie: 1', 'SET-COOKIE: 2', 'Host: a', '0: z', 'constructor: q', '__proto__: p'],
      ['Content-Type: a', 'CONTENT-TYPE: b', 'Host: a', 'HOST: b', 'Cookie: c=1', 'COOKIE: d=2'],
      ['Host: a', 'Signature: s1', 'X-New-2: n', 'SIGNATURE: s2', 'X-Forwarded-Host: h', 'X-FORWARDED-HOST: i'],
    ]) {
      const again = head([...lines, 'Connection: close']);
      await send(fieldsPort, again.bytes);
      await send(nodePort, again.bytes);
      expect(seen.get(`fields ${again.path}`)).toBeDefined();
      expect(seen.get(`fields ${again.path}`)).toBe(seen.get(`node ${again.path}`));
    }
  }, 30_000);

  it("headers set to null, then read: node's getter builds the object again; so does this one", () => {
    const make = (Message: typeof IncomingMessage) => {
      const message = new Message(null as never) as IncomingMessage & {
        _addHeaderLines(headers: string[], count: number): void;
      };
      message._addHeaderLines(['Host', 'a', 'X-A', '1'], 4);
      void message.headers;
      (message as { headers: unknown }).headers = null;
      return described(message.headers);
    };
    expect(make(FieldsIncomingMessage)).toBe(make(IncomingMessage));
  });
});
