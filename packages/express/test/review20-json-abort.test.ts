import { createServer } from 'node:http';
import { connect } from 'node:net';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express, { type Request, type Response } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { untilValue } from '../../../test-support/wait.js';

// Review 20 (hmacAuth({ json }), helper review20): a client that closes its connection mid-body was
// reported as "hmac-kit: internal error authenticating ..." on stderr (the stream's plain
// `Error: aborted` handed to admission.fail), one line per aborted request: operators read it as a
// bug, and any client able to pass the head (any client at all for the schemes that sign the body
// itself, whose head admits every key id) could fill the log with it. A client gone mid-body is a
// refusal of its own (body_unavailable: the body never arrived), reported to onFailure like the
// others and never printed as an internal error.

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

describe('review20: a client that leaves mid-body under hmacAuth({ json })', () => {
  it('is a body_unavailable refusal for onFailure, not an internal error on stderr', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    for (const withOnFailure of [false, true]) {
      const codes: string[] = [];
      const seen: Array<{ req: Request; res: Response }> = [];
      const app = express();
      app.use((req, res, next) => {
        seen.push({ req, res });
        next();
      });
      app.use(
        hmacAuth({
          keys: resolveKey,
          nonceStore: memoryNonceStore(),
          json: true,
          ...(withOnFailure ? { onFailure: (error: unknown) => codes.push((error as { code: string }).code) } : {}),
        }),
      );
      app.post('/{*any}', (_req, res) => {
        res.status(201).end();
      });
      const harness = await listening(createServer(app));
      running.push(harness);
      const { hostname, port, host } = new URL(harness.origin);
      const body = JSON.stringify({ items: 'x'.repeat(200) });
      const request = await signed(
        harness.origin,
        { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
        signingKey(keyRing.orders),
      );
      const socket = connect(Number(port), hostname);
      socket.on('error', () => undefined);
      const lines = ['POST /orders HTTP/1.1', `host: ${host}`, `content-length: ${body.length}`];
      for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body.slice(0, 20)}`);
      // The head admitted and the body being read (hmacAuth listens for it): then the client leaves.
      const { req, res } = await untilValue(
        () => (seen[0] !== undefined && seen[0].req.listenerCount('data') > 0 ? seen[0] : undefined),
        'the body being read',
      );
      socket.destroy();
      // The refusal is answered (to nobody) once it was reported.
      await untilValue(() => (req.destroyed && res.writableEnded ? true : undefined), 'the refusal');
      if (withOnFailure) expect(codes).toEqual(['ERR_BODY_UNAVAILABLE']);
    }
    expect(printed.mock.calls.map(([line]) => String(line)).filter((line) => /internal error/.test(line))).toEqual([]);
  });
});
