/**
 * Review of fix24's reservation (session 24, helper review24): with the builtin upstream client a
 * request takes its connection or queue place right before its commit and holds it across the
 * commit's await. The attacks pinned here: a client that leaves at that point (each body kind), a
 * streamed body cut off or failing its digest after the request went upstream, a streamed body over
 * the size limit, an upstream that resets the connection. After each, exactly the client's capacity
 * (one connection, one queue place) is free again: a leaked place would lock every later client out
 * with 503 upstream_busy; one given back twice would let a request through beyond the bound.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { DigestMismatch } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import { loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import type { RequestContext } from '../../src/request-context.js';
import { type HoldingUpstream, startHoldingUpstream } from '../support/holding-upstream.js';

type GatewayAuthenticator = Parameters<typeof createGateway>[0]['authenticator'];

const MAX_BODY = 200 * 1024;

/**
 * Every request admitted as verified. Its commit waits on `gate.held` for a path starting with
 * `/gated`; the body check of a path starting with `/bad` fails (a digest mismatch).
 */
function scriptedAuthenticator(gate: { held?: Promise<void>; waiting: number }): GatewayAuthenticator {
  const identity = { keyId: 'k', principal: 'p', scopes: [], scheme: 'rfc9421', coveredComponents: ['@method'] };
  const admit = async (message: { url: string }) => {
    const path = new URL(message.url).pathname;
    let committed = false;
    const commit = async () => {
      if (!committed && path.startsWith('/gated') && gate.held !== undefined) {
        gate.waiting++;
        await gate.held;
      }
      committed = true;
      if (path.startsWith('/bad'))
        return { ok: false, error: new DigestMismatch('tampered'), problem: { headers: {} } };
      return { ok: true, identity, headers: {} };
    };
    return {
      ok: true,
      identity,
      signatureVerified: true,
      checksBody: true,
      update() {},
      finish: commit,
      complete: commit,
      commitBeforeBody: async () => {
        if (path.startsWith('/gated') && gate.held !== undefined) {
          gate.waiting++;
          await gate.held;
        }
        committed = true;
        return { ok: true, identity, headers: {} };
      },
      async fail(error: unknown) {
        return { ok: false, error, problem: { headers: {} } };
      },
      signedBody() {
        return undefined;
      },
    };
  };
  return { admit } as unknown as GatewayAuthenticator;
}

describe('review24: no way out of a reserved request leaks its place or gives it back twice', () => {
  let upstream: HoldingUpstream;
  let resetting: ReturnType<typeof createServer>;
  let resettingUrl: string;
  beforeAll(async () => {
    upstream = await startHoldingUpstream();
    // An upstream that resets every connection as soon as a request head arrives.
    resetting = createServer((request) => request.socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    resettingUrl = `http://127.0.0.1:${(resetting.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await upstream.close();
    resetting.closeAllConnections();
    await new Promise<void>((resolve) => resetting.close(() => resolve()));
  });

  async function start(upstreamUrl: string) {
    const gate: { held?: Promise<void>; waiting: number } = { waiting: 0 };
    const metrics = createMetrics();
    const gateway = createGateway({
      config: loadConfig({
        flags: {
          upstream: upstreamUrl,
          upstreamClient: 'builtin',
          maxConnections: 1,
          maxBody: MAX_BODY,
          database: ':memory:',
        },
        env: {},
      }),
      authenticator: scriptedAuthenticator(gate),
      metrics,
      isTrustedProxy: () => false,
      upstreamConnections: 1,
    });
    expect(gateway.client).toBe('builtin');
    const log = createLogger('silent');
    const handled: Promise<unknown>[] = [];
    let count = 0;
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const context = { id: `r${count++}`, started: process.hrtime.bigint(), log } as RequestContext;
      handled.push(
        Promise.resolve(gateway.handler(request, response, context)).catch(() => {
          if (!response.headersSent) response.statusCode = 500;
          response.end();
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
      gate,
      handled,
      /** Requests sent upstream whose exchange ended (an answer, an error, an abort). */
      async upstreamEnded() {
        const text = await metrics.registry.metrics();
        let count = 0;
        for (const match of text.matchAll(/^hmac_kit_upstream_request_duration_seconds_count\{[^}]*\} (\d+)$/gm))
          count += Number(match[1]);
        return count;
      },
      port,
      base: `http://127.0.0.1:${port}`,
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await gateway.close();
      },
    };
  }

  /** A raw client: writes `head` and `body`, and is then destroyed by the test (a client that left). */
  async function rawClient(port: number, head: string, body = ''): Promise<Socket> {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.resume();
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(head + body);
    return socket;
  }

  /** Exactly one connection and one queue place free (against the holding upstream): hold, queued, then 503. */
  async function expectCapacityFree(base: string) {
    upstream.seen.length = 0;
    const first = fetch(`${base}/hold`);
    await until(() => upstream.held.length === 1);
    const second = fetch(`${base}/queued`);
    // The second is admitted and dispatched in the turns after it arrives: it queues, or (a place
    // leaked) is refused at once.
    let secondAnswered = false;
    void second.then(() => {
      secondAnswered = true;
    });
    const third = await fetch(`${base}/over`);
    expect(secondAnswered).toBe(false);
    expect(third.status).toBe(503);
    await third.arrayBuffer();
    upstream.release();
    expect((await first).status).toBe(200);
    const queued = await second;
    expect(queued.status).toBe(200);
    await queued.arrayBuffer();
    // (The head of a streamed request aborted on its cut body may reach the upstream's parser late.)
    expect(upstream.seen.filter((path) => !path.startsWith('/gated'))).toEqual(['/hold', '/queued']);
  }

  const heads: Record<string, { head: string; body: string }> = {
    none: { head: 'GET /gated-none HTTP/1.1\r\nHost: x\r\n\r\n', body: '' },
    small: { head: 'POST /gated-small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', body: 'x'.repeat(100) },
    // Over the 64 KiB buffered bound: committed before its body (only the head is sent).
    streamed: { head: 'POST /gated-streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 71680\r\n\r\n', body: '' },
  };

  for (const kind of Object.keys(heads)) {
    it(`a ${kind} request whose client leaves while its commit awaits gives its place back`, async () => {
      const gateway = await start(upstream.url);
      try {
        let open!: () => void;
        gateway.gate.held = new Promise<void>((resolve) => (open = resolve));
        const { head, body } = heads[kind] as { head: string; body: string };
        // Two of them: together they hold every place (one connection, one queue place).
        const clients = [await rawClient(gateway.port, head, body), await rawClient(gateway.port, head, body)];
        await until(() => gateway.gate.waiting === 2);
        // Every place is promised: a third request is refused busy before its admission.
        const refused = await fetch(`${gateway.base}/other`);
        expect(refused.status).toBe(503);
        await refused.arrayBuffer();
        for (const client of clients) client.destroy();
        gateway.gate.held = undefined;
        open();
        await until(() => gateway.handled.length === 3);
        await Promise.all(gateway.handled);
        // Committed, so sent (a committed request is always sent, its client there or not), and
        // ended: an answer, or an abort on its cut body.
        await until(async () => (await gateway.upstreamEnded()) === 2);
        await expectCapacityFree(gateway.base);
      } finally {
        upstream.release();
        await gateway.close();
      }
    });
  }

  it('a streamed body cut off after it went upstream, failing its digest, or over the limit gives its place back', async () => {
    const gateway = await start(upstream.url);
    try {
      upstream.seen.length = 0;
      // Cut off: the head and part of the body, then the client leaves.
      const cut = await rawClient(
        gateway.port,
        'POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 71680\r\n\r\n',
        'z'.repeat(10_000),
      );
      await until(() => upstream.seen.includes('/cut'));
      cut.destroy();
      // Its digest fails at the end.
      const bad = await fetch(`${gateway.base}/bad`, { method: 'POST', body: 'b'.repeat(70 * 1024) });
      expect(bad.status).toBe(401);
      await bad.arrayBuffer();
      // Chunked (no length to refuse it by), over --max-body-bytes.
      const over = await fetch(`${gateway.base}/too-large`, {
        method: 'POST',
        body: new ReadableStream({
          start(controller) {
            for (let sent = 0; sent <= MAX_BODY; sent += 16 * 1024) controller.enqueue(new Uint8Array(16 * 1024));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(over.status).toBe(413);
      await over.arrayBuffer();
      await until(() => gateway.handled.length === 3);
      await Promise.all(gateway.handled);
      await expectCapacityFree(gateway.base);
    } finally {
      upstream.release();
      await gateway.close();
    }
  });

  it('requests whose upstream resets the connection give their places back', async () => {
    const gateway = await start(resettingUrl);
    try {
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(
          [`/a${round}`, `/b${round}`].map(async (path, index) => {
            const response = await fetch(
              `${gateway.base}${path}`,
              index === 0 ? {} : { method: 'POST', body: 's'.repeat(70 * 1024) },
            );
            await response.arrayBuffer();
            return response.status;
          }),
        );
        // Each sent and failed (502), never refused busy: the places of the round before came back.
        expect(answers).toEqual([502, 502]);
      }
    } finally {
      await gateway.close();
    }
  });
});
