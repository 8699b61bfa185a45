import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { captureRawBody, hmacAuth } from '@hmac-kit/express';
import express from 'express';
import { describeBatchReview, type StartBatchApp } from '../../../test-support/batch-review-suite.js';

/** Express with `hmacAuth` after the JSON parser (`captureRawBody`) or before it (body streamed through the verifier). */
function start(parserFirst: boolean): StartBatchApp {
  return async (options) => {
    const app = express();
    if (parserFirst) app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth(options));
    app.get('/whoami', (req, res) => {
      res.json({ keyId: req.hmac?.keyId });
    });
    app.post('/echo', (req, res) => {
      // hmacAuth() first: it read the body (req.rawBody), no parser is left to read it.
      res.json({ keyId: req.hmac?.keyId, got: parserFirst ? req.body : JSON.parse(String(req.rawBody)) });
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      origin: `http://127.0.0.1:${port}`,
      server,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  };
}

describeBatchReview('express, parser first', start(true));
describeBatchReview('express, hmacAuth first', start(false));
