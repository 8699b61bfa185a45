/**
 * Review 9, 87f9df2 (req.rawBody/req.hmac written straight into the adapter's WeakMaps when the
 * request's chain leads to this copy's accessors, the kind cached per prototype and for the last
 * prototype seen). The attack: make one request see another's identity or body through the cache:
 * two apps (two request prototypes) and a mounted sub-app (Express switches the request's prototype
 * on the way in and back), requests of different keys and bodies sent concurrently and interleaved,
 * a body-less request after a body one (no rawBody carried over), and a user middleware that sets
 * `req.hmac` itself before hmacAuth refuses (the refusal stands; no route sees it).
 */
import { createServer } from 'node:http';
import { captureRawBody, hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

function app(name: string) {
  const main = express();
  main.use(express.json({ verify: captureRawBody }));
  main.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
  const report = (where: string) => (req: express.Request, res: express.Response) => {
    res.json({ where, by: req.hmac?.keyId ?? null, rawBody: req.rawBody?.toString('utf8') ?? null, body: req.body });
  };
  const sub = express();
  sub.post('/echo', report(`${name}/sub`));
  sub.get('/echo', report(`${name}/sub`));
  main.use('/sub', sub);
  main.post('/echo', report(name));
  main.get('/echo', report(name));
  return main;
}

describe('review9: express request slots never cross requests (two apps, a sub-app, concurrent requests)', () => {
  it('each request sees its own identity and raw body', async () => {
    const first = await listening(createServer(app('first')));
    const second = await listening(createServer(app('second')));
    try {
      const keys = [keyRing.orders, keyRing.reader];
      const cases: {
        harness: Awaited<ReturnType<typeof listening>>;
        key: (typeof keys)[number];
        withBody: boolean;
        body: string;
        request: Awaited<ReturnType<typeof signed>>;
      }[] = [];
      for (let index = 0; index < 24; index += 1) {
        const harness = index % 2 === 0 ? first : second;
        const key = keys[(index >> 1) % 2] as (typeof keys)[number];
        const path = index % 3 === 0 ? '/sub/echo' : '/echo';
        const withBody = index % 4 !== 3;
        const body = JSON.stringify({ index });
        cases.push({
          harness,
          key,
          withBody,
          body,
          request: await signed(
            harness.origin,
            withBody
              ? { method: 'POST', path, headers: { 'content-type': 'application/json' }, body }
              : { method: 'GET', path, headers: {} },
            signingKey(key),
          ),
        });
      }
      const answers = await Promise.all(cases.map((entry) => entry.harness.send(entry.request)));
      answers.forEach((answer, index) => {
        const entry = cases[index] as (typeof cases)[number];
        expect(answer.status, `case ${index}`).toBe(200);
        expect(answer.body, `case ${index}`).toMatchObject({
          by: entry.key.keyId,
          // A bodiless request reads as an empty body (hmacAuth read it): never another request's.
          rawBody: entry.withBody ? entry.body : '',
        });
      });
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('a request whose own middleware set req.hmac before hmacAuth is still refused without a valid signature', async () => {
    const main = express();
    main.use((req, _res, next) => {
      (req as unknown as { hmac?: unknown }).hmac = { keyId: 'forged', principal: 'admin', scopes: ['*'] };
      next();
    });
    main.use(express.json({ verify: captureRawBody }));
    main.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    main.get('/echo', (req, res) => {
      res.json({ by: req.hmac?.keyId ?? null });
    });
    const harness = await listening(createServer(main));
    try {
      const unsigned = await harness.send({ method: 'GET', path: '/echo', headers: {} });
      expect(unsigned.status).toBe(401);
      const genuine = await harness.send(
        await signed(harness.origin, { method: 'GET', path: '/echo', headers: {} }, signingKey(keyRing.orders)),
      );
      expect(genuine.status).toBe(200);
      expect(genuine.body).toEqual({ by: keyRing.orders.keyId });
    } finally {
      await harness.close();
    }
  });
});
