/**
 * Review 16: the access-log line writer (logger.ts writeAccessLine, 541461b: string fields written
 * between the template's quotes, the line head built once per millisecond; bb5f8f3: the held lines
 * handed to sonic-boom as one Buffer, latin1 when every held line is ASCII) attacked end to end:
 * a real in-process server logging through batchedStdout() to a file, requests written byte for
 * byte with what a client can put in the logged fields (quotes, backslashes, braces, percent-encoded
 * CR/LF, presigned-query signatures, a fragment, absolute-form targets with credentials, an
 * X-Request-Id with JSON in it). Node's parser refuses target bytes 0x80-0xFF, DEL and controls
 * (400, no route, no access line), so no client-sent character reaches the latin1 shortcut. Every
 * line must be one JSON object, its path the target up to its query or fragment, no signature.
 *
 * Defect found (before: the password in the log; after: none): an absolute-form target's userinfo
 * (`GET http://user:hunter2@host/p`, which RFC 9110 forbids senders to write but Node accepts) and
 * a fragment (`/p#access_token=...`) went into the access line's path as sent.
 */
import { openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { batchedStdout, createLogger } from '../../src/logger.js';
import { startInProcess } from '../support/in-process.js';
import { sendRawBytes } from '../support/raw-http.js';

describe('review16: access lines written by hand stay one JSON object per line', () => {
  let server: RunningServer;
  let file: string;
  let destination: ReturnType<typeof batchedStdout>;

  beforeAll(async () => {
    file = join(tempDir(), 'access.log');
    destination = batchedStdout(openSync(file, 'w'));
    server = await startInProcess(
      { logLevel: 'info' },
      {},
      { logger: createLogger('info', destination as unknown as NodeJS.WritableStream) },
    );
  });

  afterAll(async () => {
    await server?.close();
    rmSync(file, { force: true });
  });

  const entries = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0);

  /** Sends `target` as raw latin1 bytes and waits for its access line (found by request id). */
  async function logged(target: string, requestId: string, extra = ''): Promise<Record<string, unknown>> {
    await sendRawBytes(
      server.url,
      `GET ${target} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${requestId}\r\n${extra}Connection: close\r\n\r\n`,
    );
    let found: Record<string, unknown> | undefined;
    await until(() => {
      destination.flush();
      for (const line of entries()) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'request' && entry.reqId === requestId) found = entry;
      }
      return found !== undefined;
    });
    return found as Record<string, unknown>;
  }

  it('request-target bytes a client controls come back as the same characters, the query never', async () => {
    const cases: Array<[string, string]> = [
      ['/r16/sig?X-Amz-Signature=0123abcd', '/r16/sig'],
      ['/r16/"quoted"\\back', '/r16/"quoted"\\back'],
      ['/r16/%0d%0a{"level":"fatal"}', '/r16/%0d%0a{"level":"fatal"}'],
      ['/r16/fragment#access_token=0123abcd', '/r16/fragment'],
      ['/r16/both#x?X-Amz-Signature=0123abcd', '/r16/both'],
    ];
    for (const [index, [target, path]] of cases.entries()) {
      const entry = await logged(target, `r16-target-${index}`);
      expect(entry.path).toBe(path);
    }
    for (const line of entries()) {
      expect(() => JSON.parse(line)).not.toThrow();
      expect(line).not.toContain('0123abcd');
    }
  });

  it('an absolute-form target: no query, and no credentials of its authority, reach the line', async () => {
    const cases: Array<[string, string]> = [
      ['http://user:hunter2@example.com/r16/abs?sig=0123abcd', 'http://example.com/r16/abs'],
      ['HTTPS://user:hunter2@example.com', 'HTTPS://example.com'],
      ['http://hunter2@example.com:8080/r16/@at', 'http://example.com:8080/r16/@at'],
      ['http://a@b:hunter2@example.com/r16', 'http://example.com/r16'],
      ['http://example.com/r16/user:x@y', 'http://example.com/r16/user:x@y'],
    ];
    for (const [index, [target, path]] of cases.entries()) {
      expect((await logged(target, `r16-absolute-${index}`)).path).toBe(path);
    }
    expect(readFileSync(file, 'utf8')).not.toContain('hunter2');
    expect(readFileSync(file, 'utf8')).not.toContain('0123abcd');
  });

  it('an X-Request-Id that is not a plain id is replaced, not written', async () => {
    const hostile = 'x","level":"fatal","msg":"forged';
    await sendRawBytes(
      server.url,
      `GET /r16/forged-id HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${hostile}\r\nConnection: close\r\n\r\n`,
    );
    await until(() => {
      destination.flush();
      return entries().some((line) => line.includes('/r16/forged-id'));
    });
    const lines = entries().filter((line) => line.includes('/r16/forged-id'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ msg: 'request', level: 'info' });
    expect(lines[0]).not.toContain('forged"');
  });
});
