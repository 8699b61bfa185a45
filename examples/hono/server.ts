/**
 * Hono + hmac-kit: the middleware verifies a clone of the request, so `c.req.json()` reads
 * the original body as usual. Served with @hono/node-server here; the same app runs on
 * Workers, Deno or Bun.
 *
 *   npx tsx examples/hono/server.ts          # serve on PORT (default 3000)
 *   npx tsx examples/hono/server.ts --demo   # serve on a free port, call it, exit
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { VerificationKey } from '@hmac-kit/core';
import { type HmacEnv, hmacAuth, requireScopes } from '@hmac-kit/hono';
import { memoryRateLimiter } from '@hmac-kit/limits';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { exampleKey, printDemo, runDemo } from '../shared.js';

export function createApp(key: VerificationKey): Hono<HmacEnv> {
  const app = new Hono<HmacEnv>();
  app.use(
    '*',
    hmacAuth({
      keys: (keyId) => (keyId === key.keyId ? key : undefined),
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 60, windowSeconds: 60 },
      onFailure: (error, context) =>
        console.warn('refused', (error as { code?: string }).code, context.method, context.url),
    }),
  );
  app.post('/orders', requireScopes('orders:write'), async (c) => {
    return c.json({ by: c.var.hmac.principal, order: await c.req.json() }, 201);
  });
  return app;
}

export async function start(key: VerificationKey, port: number): Promise<{ url: string; close: () => void }> {
  const app = createApp(key);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const listening = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(listening));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const key = exampleKey();
  const demo = process.argv.includes('--demo');
  const { url, close } = await start(key, demo ? 0 : Number(process.env.PORT ?? 3000));
  console.log(`hono example on ${url} (key id ${key.keyId})`);
  if (demo) {
    printDemo(await runDemo(url, key));
    close();
  }
}
