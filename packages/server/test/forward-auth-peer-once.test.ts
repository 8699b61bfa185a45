/**
 * forward-auth reads the peer's address once per request. `socket.remoteAddress` is a getter that
 * asks the socket's handle (getpeername, cached after the first); the server reads it as the
 * request arrives (app.ts, for the access line) and the route took it from the socket again for its
 * trust check and the client address. The route reads the request context's copy now; its answers
 * are the same (a trusted proxy's check is verified, the client address is X-Forwarded-For's).
 */
import { Agent, request as httpRequest } from 'node:http';
import { Socket } from 'node:net';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, signed } from '../../../test-support/cli-client.js';
import { issueKey, startInProcess } from './support/in-process.js';

describe('forward-auth: the peer address, read once per request', () => {
  let server: RunningServer;
  let key: Awaited<ReturnType<typeof issueKey>>;
  let reads = 0;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    key = await issueKey(server, 'fa-peer-once');
    const getter = Object.getOwnPropertyDescriptor(Socket.prototype, 'remoteAddress')?.get as () => string | undefined;
    server.server.prependListener('connection', (socket: Socket) => {
      Object.defineProperty(socket, 'remoteAddress', {
        configurable: true,
        get(this: Socket) {
          reads++;
          return getter.call(this);
        },
      });
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** A forward-auth check of a fresh signed request, on `agent`'s kept-alive connection: its status. */
  async function check(agent: Agent): Promise<number> {
    const original = await signed(key, 'GET', 'http://api.example.com/orders/7');
    const headers: Record<string, string> = {
      ...(original.init.headers as Record<string, string>),
      'x-original-uri': '/orders/7',
      'x-original-method': 'GET',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'http',
      'x-forwarded-for': freshAddress(),
    };
    return new Promise((resolve, reject) => {
      const req = httpRequest(new URL('/verify', server.url), { agent, headers }, (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
      });
      req.once('error', reject);
      req.end();
    });
  }

  // Before: 2 reads per request (app.ts and the route).
  it('reads socket.remoteAddress once per check, and answers as before', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // The first check opens the connection (the listener reads the address per connection too).
      expect(await check(agent)).toBe(200);
      const before = reads;
      expect(await check(agent)).toBe(200);
      expect(await check(agent)).toBe(200);
      expect(reads - before).toBe(2);
    } finally {
      agent.destroy();
    }
  });
});
