import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the upstream saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Whether the whole request arrived (false when the gateway aborted it mid-body). */
  complete: boolean;
  /** Whether the request is over for the upstream: its body ended, or its connection closed. */
  settled: boolean;
}

/**
 * A small real upstream: echoes what it received as JSON, streams `/stream` in chunks,
 * answers `/delayed` after 500 ms, never answers `/slow`, and records every request (complete or aborted).
 */
export async function startUpstream(): Promise<{
  url: string;
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    const entry: SeenRequest = {
      method: request.method ?? '',
      url: request.url ?? '',
      headers: request.headers,
      body: Buffer.alloc(0),
      complete: false,
      settled: false,
    };
    seen.push(entry);
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('close', () => {
      entry.settled = true;
    });
    request.on('error', () => {});
    request.on('end', () => {
      entry.complete = true;
      entry.settled = true;
      entry.body = Buffer.concat(chunks);
      if (request.url?.endsWith('/slow')) return;
      if (request.url?.endsWith('/delayed')) {
        setTimeout(() => {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end('finished late');
        }, 500);
        return;
      }
      if (request.url?.endsWith('/stream')) {
        response.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
        let sent = 0;
        const timer = setInterval(() => {
          response.write(`chunk ${sent}\n`);
          sent++;
          if (sent === 5) {
            clearInterval(timer);
            response.end();
          }
        }, 10);
        return;
      }
      const payload = JSON.stringify({
        method: entry.method,
        url: entry.url,
        length: entry.body.length,
        sha256: sha256Hex(entry.body),
      });
      response.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      response.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sha256Hex(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * A request body that arrives in `chunkSize`-byte pieces, for the gateway's streaming path.
 *
 * @example
 * await fetch(url, { method: 'POST', body: chunkedStream(bytes, 64 * 1024), duplex: 'half' });
 */
export function chunkedStream(bytes: Uint8Array, chunkSize: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}
