import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, loadConfig, type RunningServer, startServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilValue } from '../../../../test-support/wait.js';

// Session 22: the access line writes the server's request id without escaping it (app.ts vouches
// that every id it keeps is its own JSON contents). A client's X-Request-Id is that id when it
// matches REQUEST_ID: ids built to break the line (a quote, a backslash, CR/LF, a control
// character, non-ASCII, a forged field) must never reach the line as sent, and every line must
// stay one JSON object whose reqId is the id the response carried.
describe('attack: an X-Request-Id built to break the access line', () => {
  let server: RunningServer;
  const raw: string[] = [];

  beforeAll(async () => {
    const config = loadConfig({
      flags: { port: 0, database: ':memory:', masterKeys: `mk-rid:${randomBytes(32).toString('base64')}` },
      env: {},
    });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') raw.push(line);
        done();
      },
    });
    server = await startServer(config, { logger: createLogger('info', destination) });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** Sends GET /verify (forward-auth: answers the untrusted peer) with `id` as sent, byte for byte; answers the response's id. */
  async function send(id: string): Promise<string> {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    socket.write(
      Buffer.from(`GET /verify HTTP/1.1\r\nHost: a\r\nx-request-id: ${id}\r\nConnection: close\r\n\r\n`, 'latin1'),
    );
    const head = await untilValue(() => (received.includes('\r\n\r\n') ? received : undefined), 'the response');
    socket.destroy();
    return /\r\nx-request-id: ([^\r]*)\r\n/i.exec(head)?.[1] ?? '';
  }

  it.each([
    ['a quote and a forged field', 'x","status":200,"keyId":"admin'],
    ['a backslash', 'a\\u0022b'],
    ['a control character', 'a\tb'],
    ['non-ASCII (latin1 bytes)', 'caf\u00e9'],
    ['over 128 characters', 'a'.repeat(129)],
  ])('%s: a fresh id, one JSON line', async (_name, id) => {
    const answered = await send(id);
    expect(answered).toMatch(/^[0-9a-f]{32}$/);
    const line = await untilValue(() => raw.find((text) => text.includes(answered)), 'the access line');
    const parsed = JSON.parse(line);
    // Refused (the peer is no trusted proxy): the line is the refusal's, with the fresh id.
    expect(parsed).toMatchObject({ msg: 'request', reqId: answered, path: '/verify' });
    expect(parsed.status).toBeGreaterThanOrEqual(400);
    expect(parsed.keyId).toBeUndefined();
    for (const text of raw) expect(() => JSON.parse(text)).not.toThrow();
  });

  it('keeps an id of the allowed characters, written as sent', async () => {
    const id = 'Ab9_.:-x';
    expect(await send(id)).toBe(id);
    const line = await untilValue(() => raw.find((text) => text.includes(`"reqId":"${id}"`)), 'the access line');
    expect(JSON.parse(line).reqId).toBe(id);
  });
});
