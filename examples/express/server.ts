/**
 * Express + hmac-kit: `express.json()` keeps the raw bytes (captureRawBody), `hmacAuth()`
 * verifies them, `requireScopes()` guards the route.
 *
 *   npx tsx examples/express/server.ts          # serve on PORT (default 3000)
 *   npx tsx examples/express/server.ts --demo   # serve on a free port, call it, exit
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { VerificationKey } from '@hmac-kit/core';
import { captureRawBody, hmacAuth, requireScopes } from '@hmac-kit/express';
import { memoryRateLimiter } from '@hmac-kit/limits';
import express from 'express';
import { exampleKey, printDemo, runDemo } from '../shared.js';

export function createApp(key: VerificationKey): express.Express {
  const app = express();
  app.use(express.json({ verify: captureRawBody }));
  app.use(
    hmacAuth({
      keys: (keyId) => (keyId === key.keyId ? key : undefined),
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 60, windowSeconds: 60 },
      onFailure: (error, context) =>
        console.warn('refused', (error as { code?: string }).code, context.method, context.url),
    }),
  );
  app.post('/orders', requireScopes('orders:write'), (req, res) => {
    res.status(201).json({ by: req.hmac?.principal, order: req.body });
  });
  return app;
}

export async function start(key: VerificationKey, port: number): Promise<{ url: string; server: Server }> {
  const server = createApp(key).listen(port, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const key = exampleKey();
  const demo = process.argv.includes('--demo');
  const { url, server } = await start(key, demo ? 0 : Number(process.env.PORT ?? 3000));
  console.log(`express example on ${url} (key id ${key.keyId})`);
  if (demo) {
    printDemo(await runDemo(url, key));
    server.close();
  }
}
