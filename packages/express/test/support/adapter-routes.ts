import { requireScopes } from '@hmac-kit/express';
import type { Express } from 'express';

/**
 * The routes the shared adapter suite (test-support/adapter-suite.ts) calls, on an app whose
 * `hmacAuth()` the caller mounted: `POST /orders` (scope orders:write) answering 201 with the
 * identity and the body it received, `GET /whoami`, `POST /admin` (scope admin). One set for every
 * Express set-up the suite runs on (Express 5 and 4; json mode and captureRawBody).
 *
 * @example
 * ```ts
 * const app = express();
 * app.use(hmacAuth({ ...options, json: true }));
 * return listening(createServer(adapterRoutes(app)));
 * ```
 */
export function adapterRoutes(app: Express): Express {
  app.post('/orders', requireScopes('orders:write'), (req, res) => {
    const { principal, keyId, scopes, scheme } = req.hmac!;
    res.status(201).json({ principal, keyId, scopes, scheme, received: req.body });
  });
  app.get('/whoami', (req, res) => {
    res.json(req.hmac);
  });
  app.post('/admin', requireScopes('admin'), (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}
