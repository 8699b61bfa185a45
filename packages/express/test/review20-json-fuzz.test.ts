import { createServer } from 'node:http';
import { connect } from 'node:net';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { untilValue } from '../../../test-support/wait.js';

// Review 20 (hmacAuth({ json }), helper review20): random heads and bodies (tricky Content-Type,
// charset and Content-Encoding values, bodies signed or not, whole or split) never crash the
// process, are answered with a stable problem+json code that echoes nothing of the body, and a
// route runs only for a verified body whose req.body is JSON.parse of its bytes (BOM skipped).

type Harness = Awaited<ReturnType<typeof listening>>;
let harness: Harness | undefined;
afterAll(async () => {
  await harness?.close();
});

const CODES = new Set([
  'signature_missing',
  'signature_invalid',
  'digest_mismatch',
  'digest_missing',
  'invalid_json',
  'body_too_large',
  'charset_unsupported',
  'content_encoding_unsupported',
]);

const contentTypes = fc.oneof(
  fc.constantFrom(
    'application/json',
    'APPLICATION/JSON',
    'application/json; charset=utf-8',
    'application/json; charset="UTF-8"',
    'application/json;charset=utf8',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'application/json; charset=',
    'application/json; charset',
    'application/json; charset=utf-8; charset=utf-16',
    'application/problem+json',
    'application/json-patch+json; charset=utf-8',
    ' application/json ',
    'application/json, text/plain',
    'text/plain',
    'text/json',
    '+json',
    '/+json',
    ';',
    '',
  ),
  fc.string({ unit: fc.constantFrom(...'aj/+;=" -,sonchrt8utf'.split('')), maxLength: 30 }),
);

describe('review20: hmacAuth({ json }) under random heads and bodies', () => {
  it('property: answered, stable codes, nothing echoed, only verified bodies routed', async () => {
    const routed: Array<{ body: unknown; raw: string | undefined }> = [];
    const escaped: unknown[] = [];
    const onEscape = (error: unknown) => escaped.push(error);
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
    try {
      const app = express();
      app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: { limit: 512 } }));
      app.post('/{*any}', (req, res) => {
        routed.push({ body: req.body, raw: req.rawBody?.toString('latin1') });
        res.status(200).json({ ok: true });
      });
      harness = await listening(createServer(app));
      const h = harness;
      const { hostname, port, host } = new URL(h.origin);
      await fc.assert(
        fc.asyncProperty(
          fc.option(contentTypes, { nil: undefined }),
          fc.constantFrom(undefined, 'identity', 'IDENTITY', 'gzip', 'identity, gzip', ''),
          fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 600 }), fc.constant('\ufeff{"a":1}')),
          fc.constantFrom('signed', 'unsigned', 'tampered'),
          fc.constantFrom('length', 'chunked'),
          fc.option(fc.nat({ max: 700 }), { nil: undefined }),
          async (contentType, encoding, text, signing, framing, splitAt) => {
            const marker = `m${Math.random().toString(36).slice(2, 10)}`;
            const body = Buffer.from(text, 'utf8');
            const headers: Record<string, string> = {};
            if (contentType !== undefined) headers['content-type'] = contentType;
            if (encoding !== undefined) headers['content-encoding'] = encoding;
            headers['x-marker'] = marker;
            const request =
              signing === 'unsigned'
                ? { headers }
                : await signed(
                    h.origin,
                    { method: 'POST', path: '/orders', headers, body: text },
                    signingKey(keyRing.orders),
                    signing === 'tampered' ? `${text} ` : text,
                  );
            const lines = ['POST /orders HTTP/1.1', `host: ${host}`];
            for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
            let payload: Buffer;
            if (framing === 'length') {
              lines.push(`content-length: ${body.length}`);
              payload = body;
            } else {
              lines.push('transfer-encoding: chunked');
              payload = Buffer.concat([
                body.length > 0 ? Buffer.from(`${body.length.toString(16)}\r\n`) : Buffer.alloc(0),
                body,
                Buffer.from(body.length > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n'),
              ]);
            }
            const wire = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
            const socket = connect(Number(port), hostname);
            let answer = '';
            socket.on('data', (chunk: Buffer) => {
              answer += chunk.toString('utf8');
            });
            socket.on('error', () => undefined);
            const before = routed.length;
            if (splitAt === undefined) socket.write(wire);
            else {
              const at = Math.min(splitAt, wire.length);
              socket.write(wire.subarray(0, at));
              await new Promise<void>((resolve) => setImmediate(resolve));
              if (!socket.destroyed) socket.write(wire.subarray(at));
            }
            const complete = await untilValue(() => {
              const split = answer.indexOf('\r\n\r\n');
              if (split === -1) return undefined;
              const length = Number(/content-length: (\d+)/i.exec(answer)?.[1] ?? Number.NaN);
              return answer.length - split - 4 >= length ? answer : undefined;
            }, 'the answer');
            socket.destroy();
            const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(complete)?.[1]);
            const answerBody = complete.slice(complete.indexOf('\r\n\r\n') + 4);
            expect(answerBody).not.toContain(marker);
            if (status === 200) {
              expect(signing).toBe('signed');
              const seen = routed.slice(before);
              expect(seen).toHaveLength(1);
              const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
              const parsesJson = type === 'application/json' || (type.endsWith('+json') && type.indexOf('/') > 0);
              if (parsesJson && body.length > 0) {
                expect(seen[0]!.body).toEqual(JSON.parse(body.toString('utf8').replace(/^\ufeff/, '')));
              } else expect(seen[0]!.body).toBeUndefined();
            } else {
              expect(routed.length).toBe(before);
              expect(complete).toMatch(/content-type: application\/problem\+json/i);
              const code = (JSON.parse(answerBody) as { code: string }).code;
              expect(CODES.has(code), `${status} ${code}`).toBe(true);
              if (signing === 'unsigned') expect(status).not.toBe(400);
            }
          },
        ),
        { numRuns: 60 },
      );
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(escaped).toEqual([]);
    } finally {
      process.removeListener('uncaughtException', onEscape);
      process.removeListener('unhandledRejection', onEscape);
    }
  });
});
