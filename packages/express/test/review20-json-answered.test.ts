import { createServer } from 'node:http';
import { connect } from 'node:net';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { untilValue } from '../../../test-support/wait.js';

// Review 20 (hmacAuth({ json }), helper review20): the request was answered by someone else (a
// timeout middleware such as connect-timeout, which answers 503 through Express's error handler)
// while hmacAuth({ json }) was still reading its body. When the body ends, a refusal (digest
// mismatch, invalid JSON, a body-signed scheme's wrong MAC) or a success must not throw from the
// stream's 'end' listener or a promise callback: an uncaught exception or an unhandled rejection
// ends the whole process (node's default), so one client could stop the service.

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
const escaped: unknown[] = [];
const onEscape = (error: unknown): void => {
  escaped.push(error);
};

afterEach(async () => {
  process.removeListener('uncaughtException', onEscape);
  process.removeListener('unhandledRejection', onEscape);
  escaped.length = 0;
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

/**
 * An app whose first middleware, when its pending call runs, answers 503 (`end`: as connect-timeout
 * does; node:http then discards the rest of the body) or only sends the head of an answer (`flush`:
 * `res.flushHeaders()`, the body still read), then hmacAuth({ json }) and a route.
 */
async function timedOutApp(how: 'end' | 'flush') {
  const pending: Array<() => void> = [];
  const routed: unknown[] = [];
  const app = express();
  app.use((_req: Request, res: Response, next: NextFunction) => {
    pending.push(() => {
      if (res.headersSent) return;
      if (how === 'end') res.status(503).json({ timedOut: true });
      else res.status(202).flushHeaders();
    });
    next();
  });
  app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: true }));
  app.post('/orders', (req, res) => {
    routed.push(req.body);
    if (!res.headersSent) res.status(201).end();
  });
  const harness = await listening(createServer(app));
  running.push(harness);
  return { harness, pending, routed };
}

/** Sends the head and the first `split` bytes of `body`, has the app answer 503, then sends the rest. */
async function answeredMidBody(
  app: Awaited<ReturnType<typeof timedOutApp>>,
  headers: Record<string, string>,
  body: string,
  split = 5,
): Promise<string> {
  const { hostname, port, host } = new URL(app.harness.origin);
  const socket = connect(Number(port), hostname);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  const lines = ['POST /orders HTTP/1.1', `host: ${host}`, `content-length: ${Buffer.byteLength(body)}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body.slice(0, split)}`);
  const before = app.pending.length;
  await untilValue(() => (app.pending.length > before ? true : undefined), 'the request in the app');
  app.pending.at(-1)!();
  await untilValue(() => (/\r\n\r\n/.test(text) ? true : undefined), 'the head of the answer');
  socket.write(body.slice(split));
  // The body is complete (or, after a finished answer, discarded by node:http): hmacAuth({ json }) ends it now. Wait for a request on a new connection
  // to be answered, which proves the process went on serving (and gives the 'end' listener its turn).
  const again = await app.harness.send({ method: 'GET', path: '/health', headers: {} });
  socket.destroy();
  expect(again.status).toBe(401);
  return text;
}

describe('review20: a request answered by another middleware while hmacAuth({ json }) reads its body', () => {
  it.each(['end', 'flush'] as const)(
    '(%s) a digest mismatch, invalid JSON or a verified body arriving after the answer throws nothing out of the stream listeners',
    async (how) => {
      process.on('uncaughtException', onEscape);
      process.on('unhandledRejection', onEscape);
      const app = await timedOutApp(how);
      const origin = app.harness.origin;
      const key = signingKey(keyRing.orders);
      const json = { 'content-type': 'application/json' };

      // Signed over another body: the head verifies, the digest does not (the refusal after the answer).
      const tampered = await signed(origin, { method: 'POST', path: '/orders', headers: json, body: '{"a":2}' }, key);
      await answeredMidBody(app, tampered.headers, '{"a":1}');

      // Signed, not JSON: verified, then refused invalid_json after the answer.
      const broken = '{"items": [1, 2';
      const notJson = await signed(origin, { method: 'POST', path: '/orders', headers: json, body: broken }, key);
      await answeredMidBody(app, notJson.headers, broken);

      // Signed and valid: handed on after the answer (the route must see res.headersSent, not crash).
      const good = '{"items":[1,2]}';
      const valid = await signed(origin, { method: 'POST', path: '/orders', headers: json, body: good }, key);
      await answeredMidBody(app, valid.headers, good);

      // Give any rejection or listener error a turn to surface.
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(escaped.map((error) => (error as { code?: string }).code ?? String(error))).toEqual([]);
    },
  );
});
