import type { VerificationKey } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { exampleKey, runDemo } from '../shared.js';

interface Started {
  url: string;
  stop(): Promise<void> | void;
}

const examples: Record<string, (key: VerificationKey) => Promise<Started>> = {
  express: async (key) => {
    const { start } = await import('../express/server.js');
    const { url, server } = await start(key, 0);
    return { url, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  },
  fastify: async (key) => {
    const { start } = await import('../fastify/server.js');
    const { url, app } = await start(key, 0);
    return { url, stop: () => app.close() };
  },
  hono: async (key) => {
    const { start } = await import('../hono/server.js');
    const { url, close } = await start(key, 0);
    return { url, stop: close };
  },
  'node-http': async (key) => {
    const { start } = await import('../node-http/server.js');
    const { url, server } = await start(key, 0);
    return { url, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  },
};

describe.each(Object.entries(examples))('examples/%s', (_name, startExample) => {
  it('accepts the signed request and refuses the replay and the tampered body', async () => {
    const key = exampleKey();
    const started = await startExample(key);
    try {
      const results = await runDemo(started.url, key);
      expect(results.map(({ name, status, body }) => [name, status, body.code ?? body.order])).toEqual([
        ['signed', 201, { item: 'widget', quantity: 1 }],
        ['replayed', 401, 'nonce_replayed'],
        ['tampered body', 401, 'digest_mismatch'],
      ]);
    } finally {
      await started.stop();
    }
  });
});
