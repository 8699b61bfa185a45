/**
 * Fastify + hmac-kit: the plugin verifies the raw payload in `preParsing`, Fastify's default
 * JSON parser then parses exactly the verified bytes.
 *
 *   npx tsx examples/fastify/server.ts          # serve on PORT (default 3000)
 *   npx tsx examples/fastify/server.ts --demo   # serve on a free port, call it, exit
 */
import { pathToFileURL } from 'node:url';
import type { VerificationKey } from '@hmac-kit/core';
import { hmacAuth, requireScopes } from '@hmac-kit/fastify';
import { memoryRateLimiter } from '@hmac-kit/limits';
import Fastify, { type FastifyInstance } from 'fastify';
import { exampleKey, printDemo, runDemo } from '../shared.js';

export async function createApp(key: VerificationKey): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(
    hmacAuth({
      keys: (keyId) => (keyId === key.keyId ? key : undefined),
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 60, windowSeconds: 60 },
      onFailure: (error, context) =>
        console.warn('refused', (error as { code?: string }).code, context.method, context.url),
    }),
  );
  app.post('/orders', { preHandler: requireScopes('orders:write') }, async (request, reply) => {
    return reply.code(201).send({ by: request.hmac?.principal, order: request.body });
  });
  return app;
}

export async function start(key: VerificationKey, port: number): Promise<{ url: string; app: FastifyInstance }> {
  const app = await createApp(key);
  const url = await app.listen({ port, host: '127.0.0.1' });
  return { url, app };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const key = exampleKey();
  const demo = process.argv.includes('--demo');
  const { url, app } = await start(key, demo ? 0 : Number(process.env.PORT ?? 3000));
  console.log(`fastify example on ${url} (key id ${key.keyId})`);
  if (demo) {
    printDemo(await runDemo(url, key));
    await app.close();
  }
}
