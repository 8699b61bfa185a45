/**
 * A client that goes away in the middle of its request body, on the routes that read a body after
 * admitting the head (`/v1/whoami`, the signed admin API). A client leaving is not a server error:
 * the failure responder used to rethrow the read's premature-close error, logged as
 * `unhandled error` at level error (with the error's stack of an unhandled failure). Now it is a
 * debug line, and the failure throttle still does not count it.
 *
 * Against the real process, raw sockets; every wait is for a condition.
 */

import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';

describe('a client that leaves mid-body', () => {
  let key: IssuedKey;
  let server: ServeProcess;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'leaver', ['--scope', 'admin']);
    server = await startServe(['--db', db, '--log-level', 'debug'], { cwd: dir });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it.each([
    ['whoami', '/v1/whoami'],
    ['an admin route', '/v1/admin/principals'],
  ])(
    '%s: is logged below error, and the server goes on answering',
    async (_name, path) => {
      const { host, hostname, port } = new URL(server.url);
      const body = Buffer.from(JSON.stringify({ name: `p-${'x'.repeat(400)}` }));
      const prepared = await signMessage(
        {
          method: 'POST',
          url: `${server.url}${path}`,
          headers: { 'content-type': 'application/json' },
          body: new Uint8Array(body),
        },
        key,
      );
      const id = randomUUID();
      const lines = [`POST ${path} HTTP/1.1`, `Host: ${host}`, `X-Request-Id: ${id}`];
      lines.push('Content-Type: application/json', `Content-Length: ${body.length}`);
      for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
      const mark = server.logs.length;
      const socket = connect({ host: hostname, port: Number(port) });
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // The head and part of the body, then the client is gone.
      await new Promise<void>((resolve) =>
        socket.write(`${lines.join('\r\n')}\r\n\r\n${body.subarray(0, 20).toString()}`, () => resolve()),
      );
      socket.destroy();
      await until(() => server.logs.slice(mark).some((line) => line.msg === 'request' && line.reqId === id));
      // A request after it is answered, and logged after whatever the abandoned one logged.
      const after = await signed(key, 'GET', `${server.url}/v1/whoami`);
      const next = randomUUID();
      expect((await send(after, { 'x-forwarded-for': freshAddress(), 'x-request-id': next })).status).toBe(200);
      await until(() => server.logs.slice(mark).some((line) => line.msg === 'request' && line.reqId === next));
      const mine = server.logs.slice(mark).filter((line) => line.reqId === id);
      // Before: {"level":"error","msg":"unhandled error","err":{"name":"Error","message":"aborted"}}.
      expect(mine.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
      expect(server.logs.slice(mark).filter((line) => line.msg === 'unhandled error')).toEqual([]);
      // Said once, at debug (the head was admitted: the close reached the server with the body unread).
      expect(
        mine
          .filter((entry) => entry.msg === 'client went away before its request body was read')
          .map((entry) => entry.level),
      ).toEqual(['debug']);
    },
    20_000,
  );
});
