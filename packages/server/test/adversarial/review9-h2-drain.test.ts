/**
 * Review 9: the bounded drain of 71c46d2 covers HTTP/1.1 (ClosingServerResponse). The same attack
 * over HTTP/2 (TLS, ALPN h2): a POST declaring a body over --max-body, refused at once (413), whose
 * DATA frames the client goes on trickling on the same stream after the answer. The stream must
 * be ended by the server (RST_STREAM after the complete answer, RFC 9113 8.1), not drained for as
 * long as the client sends.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { tempDir } from '../../../../test-support/processes.js';
import { startInProcess } from '../support/in-process.js';
import { http2Session, makeCertificates, type TestCertificates } from '../support/tls.js';

describe('review9: a refused HTTP/2 request body is not drained for as long as the client sends', () => {
  let server: RunningServer;
  let certs: TestCertificates;
  let port: number;

  beforeAll(async () => {
    certs = makeCertificates(tempDir('review9-h2-'));
    server = await startInProcess({
      upstream: 'http://127.0.0.1:9',
      schemes: 'rfc9421',
      maxBody: '1kb',
      host: '127.0.0.1',
      tlsCert: certs.first.certFile,
      tlsKey: certs.first.keyFile,
    });
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('a body declared over --max-body and trickled after the 413 has its stream ended', async () => {
    const { session } = await http2Session(port, certs.ca);
    try {
      const stream = session.request(
        {
          ':method': 'POST',
          ':path': '/h2-drain',
          'content-type': 'application/octet-stream',
          'content-length': '1000000000',
          'x-forwarded-for': freshAddress(),
        },
        { endStream: false },
      );
      let status = 0;
      let closed = false;
      let wake: () => void = () => {};
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
        wake();
      });
      stream.on('error', () => {});
      stream.on('close', () => {
        closed = true;
        wake();
      });
      stream.resume();
      const until = async (ready: () => boolean) => {
        while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
      };
      stream.write('xxxx');
      await until(() => status !== 0 || closed);
      expect(status).toBe(413);
      const writer = setInterval(() => {
        if (!stream.destroyed && !stream.writableEnded) stream.write('x'.repeat(64));
      }, 50);
      try {
        await until(() => closed);
      } finally {
        clearInterval(writer);
      }
      expect(closed).toBe(true);
    } finally {
      session.destroy();
    }
  }, 15_000);
});
