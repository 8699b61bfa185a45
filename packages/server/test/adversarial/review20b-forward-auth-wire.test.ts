/**
 * review20b: forward-auth's 200 written through node:http's internal slot (checked-head.ts) on the
 * wire: pipelined requests on one connection (GET, HEAD, HTTP/1.0 last), `Expect: 100-continue`, a
 * principal beyond latin-1 and a request id the client chose: each answer framed by its own
 * Content-Length: 0, nothing of one answer in the next, the HTTP/1.0 one closing the connection.
 */
import { connect } from 'node:net';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, signed } from '../../../../test-support/cli-client.js';
import { checkedHeadsUnchecked } from '../../src/checked-head.js';
import { IdentityFields, LimitFields } from '../../src/forward-auth.js';
import { issueKey, startInProcess } from '../support/in-process.js';

let server: RunningServer;
let key: Awaited<ReturnType<typeof issueKey>>;

beforeAll(async () => {
  server = await startInProcess({ schemes: 'rfc9421' });
  key = await issueKey(server, 'review20b-wire', ['orders:read']);
});

afterAll(async () => {
  await server?.close();
});

async function verifyRequest(
  method: string,
  version: '1.0' | '1.1',
  extra: Record<string, string> = {},
  requestId = 'r20b',
): Promise<string> {
  const request = await signed(key, 'GET', 'http://api.example.com/orders/7');
  const headers: Record<string, string> = {
    ...(request.init.headers as Record<string, string>),
    host: new URL(server.url).host,
    'x-original-uri': '/orders/7',
    'x-original-method': 'GET',
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-proto': 'http',
    'x-forwarded-for': freshAddress(),
    'x-request-id': requestId,
    ...extra,
  };
  let text = `${method} /verify HTTP/${version}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

/** Writes `bytes` on one connection and reads until the server closes it. */
function exchange(bytes: string): Promise<string> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

describe('review20b: forward-auth 200 heads on the wire', () => {
  it('pipelined GET, HEAD, HTTP/1.0 GET: three framed 200s, the last closes', async () => {
    // Not vacuous: the heads go through node's internal slot on this node.
    expect(checkedHeadsUnchecked()).toBe(true);
    const wire = await exchange(
      (await verifyRequest('GET', '1.1', {}, 'r20b-1')) +
        (await verifyRequest('HEAD', '1.1', {}, 'r20b-2')) +
        (await verifyRequest('GET', '1.0', {}, 'r20b-3')),
    );
    const answers = wire.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(3);
    answers.forEach((answer, index) => {
      const [head, body] = answer.split('\r\n\r\n');
      expect(body, answer).toBe('');
      const lines = head!.split('\r\n');
      expect(lines[0]).toBe('HTTP/1.1 200 OK');
      const names = lines.slice(1).map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
      expect(new Set(names).size, head).toBe(names.length);
      expect(lines).toContain('content-length: 0');
      expect(lines).toContain(`x-authenticated-principal: review20b-wire`);
      expect(lines).toContain(`x-request-id: r20b-${index + 1}`);
      expect(lines).toContain('cache-control: no-store');
      expect(lines).toContain(index === 2 ? 'Connection: close' : 'Connection: keep-alive');
    });
  });

  it('Expect: 100-continue: the 100 then one framed 200', async () => {
    const wire = await exchange(await verifyRequest('GET', '1.1', { expect: '100-continue', connection: 'close' }));
    const statuses = wire.match(/^HTTP\/1\.1 \d+/gm);
    expect(statuses?.at(-1)).toBe('HTTP/1.1 200');
    expect(wire.endsWith('\r\n\r\n')).toBe(true);
    expect(wire).toContain('content-length: 0\r\n');
  });

  it('a hostile client request id is never written into the head (a fresh one is drawn)', async () => {
    const wire = await exchange(
      await verifyRequest('GET', '1.1', { connection: 'close' }, 'a\tb; x-authenticated-principal: admin'),
    );
    expect(wire).toMatch(/^HTTP\/1\.1 200/);
    expect(wire).toMatch(/\r\nx-request-id: [0-9a-f]{32}\r\n/);
    expect(wire.match(/x-authenticated-principal/gi)).toHaveLength(1);
  });
});

describe('review20b: the kept identity fields follow the identity, never an earlier one', () => {
  it('one key id with alternating principals and scopes (two stores, a re-import): each answer its own lines', () => {
    const fields = new IdentityFields();
    const a = { keyId: 'hk_same', principal: 'tenant-a', scopes: Object.freeze(['read']) };
    const b = { keyId: 'hk_same', principal: 'tenant-b', scopes: Object.freeze(['admin']) };
    // The same strings in a new frozen list, and a list with the same first scope but one more.
    const aAgain = { ...a, scopes: Object.freeze(['read']) };
    const aMore = { ...a, scopes: Object.freeze(['read', 'write']) };
    for (let round = 0; round < 3; round++) {
      expect(fields.of(a).lines).toContain('x-authenticated-principal: tenant-a\r\nx-authenticated-scopes: read\r\n');
      expect(fields.of(b).lines).toContain('x-authenticated-principal: tenant-b\r\nx-authenticated-scopes: admin\r\n');
      expect(fields.of(aAgain).lines).toContain('x-authenticated-scopes: read\r\n');
      expect(fields.of(aMore).lines).toContain('x-authenticated-scopes: read write\r\n');
      // Latin-1 beyond ASCII is a valid field value (sent as one byte each); beyond U+00FF is not.
      expect(fields.of({ ...a, principal: 'zo\u00eb' }).principal.line).toBe('x-authenticated-principal: zo\u00eb\r\n');
      expect(() => fields.of({ ...a, principal: 'zo\u0117' })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
      );
      expect(() => fields.of({ ...b, scopes: Object.freeze(['admin', 'x\r\n y']) })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
      );
    }
  });

  it('a policy value changing back to one kept earlier, and a hostile one in between, are checked each time', () => {
    const limits = new LimitFields();
    for (let round = 0; round < 3; round++) {
      expect(limits.of('RateLimit-Policy', '"a";q=1;w=1').field.line).toBe('RateLimit-Policy: "a";q=1;w=1\r\n');
      expect(() => limits.of('RateLimit-Policy', '"a";q=1;w=1\r\nSet-Cookie: x=1')).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
      );
      expect(limits.of('RateLimit-Policy', '"b";q=2;w=1').field.line).toBe('RateLimit-Policy: "b";q=2;w=1\r\n');
    }
  });
});
