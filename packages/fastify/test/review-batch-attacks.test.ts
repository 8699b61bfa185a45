import { hmacAuth } from '@hmac-kit/fastify';
import Fastify from 'fastify';
import { describeBatchReview } from '../../../test-support/batch-review-suite.js';

describeBatchReview('fastify', async (options) => {
  const app = Fastify();
  await app.register(hmacAuth(options));
  app.get('/whoami', async (request) => ({ keyId: request.hmac?.keyId }));
  app.post('/echo', async (request) => ({ keyId: request.hmac?.keyId, got: request.body }));
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  return { origin, server: app.server, close: () => app.close() };
});
