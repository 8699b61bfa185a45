/**
 * node:http + hmac-kit: `auth(req, res)` verifies the request and hands back the exact
 * body bytes it verified; on failure it has already answered with a problem+json response.
 *
 *   npx tsx examples/node-http/server.ts          # serve on PORT (default 3000)
 *   npx tsx examples/node-http/server.ts --demo   # serve on a free port, call it, exit
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { VerificationKey } from '@hmac-kit/core';
import { memoryRateLimiter } from '@hmac-kit/limits';
import { hmacAuth } from '@hmac-kit/node-http';
import { exampleKey, printDemo, runDemo } from '../shared.js';

export function createApp(key: VerificationKey): Server {
  const auth = hmacAuth({
    keys: (keyId) => (keyId === key.keyId ? key : undefined),
    rateLimiter: memoryRateLimiter(),
    defaultRateLimit: { limit: 60, windowSeconds: 60 },
    onFailure: (error, context) =>
      console.warn('refused', (error as { code?: string }).code, context.method, context.url),
  });
  return createServer(async (req, res) => {
    const result = await auth(req, res);
    if (!result) return;
    if (req.method !== 'POST' || req.url !== '/orders') {
      res.writeHead(404).end();
      return;
    }
    if (!auth.requireScopes(res, result.identity, 'orders:write')) return;
    let order: unknown;
    try {
      order = JSON.parse(result.rawBody.toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid JSON"}');
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ by: result.identity.principal, order }));
  });
}

export async function start(key: VerificationKey, port: number): Promise<{ url: string; server: Server }> {
  const server = createApp(key);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const key = exampleKey();
  const demo = process.argv.includes('--demo');
  const { url, server } = await start(key, demo ? 0 : Number(process.env.PORT ?? 3000));
  console.log(`node:http example on ${url} (key id ${key.keyId})`);
  if (demo) {
    printDemo(await runDemo(url, key));
    server.close();
  }
}
