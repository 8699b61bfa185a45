/**
 * incoming.ts `FieldsIncomingMessage`: `request.headers` built from `rawHeaders` with node's own
 * rule per name (and the shape path for a head whose names repeat the last one's) is the object
 * node's getter builds: same prototype, same own keys in the same order, same values. Held against
 * node's `IncomingMessage` itself, fast-check over heads (known fields in any case, repeats,
 * set-cookie, cookie, names of Object.prototype, `__proto__`), in runs where heads repeat each
 * other's names (the shape path) or differ by one name, and over real sockets.
 */
import { createServer, IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FieldsIncomingMessage, fieldRule } from '../src/incoming.js';
import { openListener } from '../src/listener.js';
import { createLogger } from '../src/logger.js';
import { closedAfterEachTest } from './support/local-http.js';

const { servers, sockets } = closedAfterEachTest();

type Head = Array<[string, string]>;

/** What an object is, for comparing: prototype, own keys in order, values (arrays by value). */
function described(headers: object): unknown {
  return {
    prototype: Object.getPrototypeOf(headers) === Object.prototype ? 'Object.prototype' : 'other',
    entries: Object.entries(headers),
    // Non-enumerable or symbol keys would show here.
    ownKeys: Reflect.ownKeys(headers),
  };
}

type Internal = IncomingMessage & {
  joinDuplicateHeaders: boolean;
  _addHeaderLines(headers: string[], count: number): void;
};

/** The headers node's own IncomingMessage builds from `raw`, the first `count` entries filed. */
function nodeHeaders(raw: string[], count = raw.length, join = false): object {
  const message = new IncomingMessage(null as never) as Internal;
  message.joinDuplicateHeaders = join;
  message._addHeaderLines(raw, count);
  return message.headers;
}

function fieldsHeaders(raw: string[], count = raw.length, join = false): object {
  const message = new FieldsIncomingMessage(null as never) as unknown as Internal;
  message.joinDuplicateHeaders = join;
  message._addHeaderLines(raw, count);
  const first = message.headers;
  // Read twice: the same object (node's getter keeps what it built).
  expect(message.headers).toBe(first);
  return first;
}

const KNOWN = [
  'Host',
  'Content-Type',
  'Content-Length',
  'User-Agent',
  'Referer',
  'Authorization',
  'Set-Cookie',
  'Cookie',
  'Accept',
  'Accept-Encoding',
  'Connection',
  'Transfer-Encoding',
  'X-Forwarded-For',
  'X-Original-URI',
  'X-Forwarded-Uri',
  'Signature',
  'Signature-Input',
  'Content-Digest',
  'Date',
  'ETag',
  'If-None-Match',
  'Max-Forwards',
  'Proxy-Authorization',
  'Expect',
  'From',
  'Location',
  'Retry-After',
  'Server',
  'Age',
  'Expires',
  'Last-Modified',
  'If-Modified-Since',
  'If-Unmodified-Since',
  'WWW-Authenticate',
  'Upgrade',
  'Priority',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
];

/** A name in any case: one of node's known fields (and Object.prototype's names), or a token. */
const nameArbitrary = fc.oneof(
  fc
    .tuple(fc.constantFrom(...KNOWN), fc.array(fc.boolean(), { minLength: 48, maxLength: 48 }))
    .map(([name, upper]) => [...name].map((c, index) => (upper[index] ? c.toUpperCase() : c.toLowerCase())).join('')),
  fc.constantFrom(...KNOWN),
  fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/),
  // Longer than the kept names: node's getter files the head.
  fc.stringMatching(/^[a-z]{65,70}$/),
);
const valueArbitrary = fc.stringMatching(/^[\x20-\x7e]{0,12}$/);
const headArbitrary: fc.Arbitrary<Head> = fc.array(fc.tuple(nameArbitrary, valueArbitrary), { maxLength: 40 });

const flat = (head: Head) => head.flat();

describe('FieldsIncomingMessage (issue #15, session 23)', () => {
  it('fieldRule() reads node: a known field, cookie, set-cookie, an unknown name', () => {
    expect(fieldRule('Content-Type')).toEqual({ key: 'content-type', flag: 3 });
    expect(fieldRule('X-Original-URI')).toEqual({ key: 'x-original-uri', flag: 0 });
    expect(fieldRule('Cookie')).toEqual({ key: 'cookie', flag: 2 });
    expect(fieldRule('SET-COOKIE')).toEqual({ key: 'set-cookie', flag: 1 });
    expect(fieldRule('__proto__')).toEqual({ key: '__proto__', flag: 0 });
  });

  it('builds what node builds, for any head (fast-check, heads one after another)', () => {
    fc.assert(
      fc.property(fc.array(headArbitrary, { minLength: 1, maxLength: 6 }), (heads) => {
        for (const head of heads) {
          const raw = flat(head);
          expect(described(fieldsHeaders(raw))).toEqual(described(nodeHeaders(raw)));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('the shape path: heads with the names of the last one, other values, or one name changed (fast-check)', () => {
    fc.assert(
      fc.property(
        headArbitrary,
        fc.array(
          fc.tuple(
            fc.array(valueArbitrary, { minLength: 40, maxLength: 40 }),
            fc.option(fc.tuple(fc.nat(), nameArbitrary), { nil: undefined }),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        (head, variants) => {
          const first = flat(head);
          expect(described(fieldsHeaders(first))).toEqual(described(nodeHeaders(first)));
          for (const [values, change] of variants) {
            const next: Head = head.map(([name], index) => [name, values[index] as string]);
            if (change !== undefined && next.length > 0) {
              const at = change[0] % next.length;
              next[at] = [change[1], (next[at] as [string, string])[1]];
            }
            const raw = flat(next);
            expect(described(fieldsHeaders(raw))).toEqual(described(nodeHeaders(raw)));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("the head the proxy sends again and again, in nginx's and node's spellings", () => {
    const nginx = ['Host', 'api', 'X-Original-URI', '/a?b=1', 'X-Original-Method', 'POST', 'Signature', 's'];
    const node = ['host', 'api', 'x-original-uri', '/a?b=1', 'x-original-method', 'POST', 'signature', 's'];
    for (const raw of [
      nginx,
      nginx,
      node,
      node,
      nginx,
      ['Host', 'api', 'Host', 'other', 'Cookie', 'a', 'Cookie', 'b'],
    ]) {
      expect(described(fieldsHeaders(raw))).toEqual(described(nodeHeaders(raw)));
    }
  });

  it("node's cut (maxHeaderPairs), joinDuplicateHeaders and long heads: node's getter, the same object", () => {
    fc.assert(
      fc.property(headArbitrary, fc.nat(), fc.boolean(), (head, cut, join) => {
        const raw = flat(head);
        const count = raw.length === 0 ? 0 : (cut % raw.length) & ~1;
        expect(described(fieldsHeaders(raw, count, join))).toEqual(described(nodeHeaders(raw, count, join)));
      }),
      { numRuns: 200 },
    );
    const long = Array.from({ length: 40 }, (_, index) => [`x-${index}`, String(index)]).flat();
    expect(described(fieldsHeaders(long))).toEqual(described(nodeHeaders(long)));
  });

  it('a headers object set replaces the built one', () => {
    const message = new FieldsIncomingMessage(null as never) as unknown as Internal;
    message._addHeaderLines(['Host', 'a'], 2);
    const replaced = { host: 'b' };
    message.headers = replaced;
    expect(message.headers).toBe(replaced);
  });

  it('over real sockets: a server with it sees the headers a plain node:http server sees (fast-check)', async () => {
    const seen = new Map<string, string>();
    const listen = async (tag: string, fields: boolean) => {
      const handler = (request: IncomingMessage, response: import('node:http').ServerResponse) => {
        seen.set(`${tag} ${request.url}`, JSON.stringify(described(request.headers)));
        response.end('ok');
      };
      const server = fields ? createServer({ IncomingMessage: FieldsIncomingMessage }, handler) : createServer(handler);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as AddressInfo).port;
    };
    const fieldsPort = await listen('fields', true);
    const nodePort = await listen('node', false);
    const send = async (port: number, bytes: string) => {
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      const answered = new Promise<void>((resolve) => {
        socket.once('data', () => resolve());
        socket.once('close', () => resolve());
      });
      socket.write(bytes);
      await answered;
      socket.destroy();
    };
    const tokenName = fc
      .stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/)
      .filter((n) => !/^(content-length|transfer-encoding|host|expect|upgrade|connection)$/i.test(n));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.constantFrom(
                'Cookie',
                'Set-Cookie',
                'Accept',
                'User-Agent',
                'X-Original-URI',
                'constructor',
                '__proto__',
              ),
              tokenName,
            ),
            valueArbitrary,
          ),
          { maxLength: 20 },
        ),
        async (head) => {
          const path = `/r${n++}`;
          const bytes = `GET ${path} HTTP/1.1\r\nHost: a\r\n${head.map(([k, v]) => `${k}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`;
          await send(fieldsPort, bytes);
          await send(nodePort, bytes);
          expect(seen.get(`fields ${path}`)).toBeDefined();
          expect(seen.get(`fields ${path}`)).toBe(seen.get(`node ${path}`));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the server's listener hands its routes a FieldsIncomingMessage", async () => {
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    let request: IncomingMessage | undefined;
    const listener = await openListener(
      {
        port: 0,
        host: '127.0.0.1',
        tls: undefined,
        keepAliveTimeoutSeconds: 5,
        headersTimeoutSeconds: 5,
        maxConnections: 100,
        maxConnectionsPerAddress: 100,
      } as Parameters<typeof openListener>[0],
      (arrived, response) => {
        request = arrived;
        response.end('ok');
      },
      createLogger('silent', sink),
    );
    try {
      const response = await fetch(`${listener.url}/x`, { headers: { 'X-Test': 'a' } });
      await response.text();
      expect(request).toBeInstanceOf(FieldsIncomingMessage);
      expect(request?.headers['x-test']).toBe('a');
    } finally {
      await Promise.race([listener.stopAccepting(), new Promise((resolve) => setTimeout(resolve, 1000))]);
    }
  });
});
