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
  /** Whether its connection closed before the upstream had finished answering (the gateway gave up on it). */
  abandoned?: boolean;
}

/** `/large`'s 4 MiB and their SHA-256, made once per process: made per request, a loaded machine took more than the gateway's upstream timeout to answer. */
let large: { bytes: Buffer; sha256: string } | undefined;
function largeAnswer(): { bytes: Buffer; sha256: string } {
  if (large === undefined) {
    const bytes = Buffer.alloc(4 * 1024 * 1024);
    for (let index = 0; index < bytes.length; index += 4) bytes.writeUInt32LE((index * 2654435761) >>> 0, index);
    large = { bytes, sha256: sha256Hex(bytes) };
  }
  return large;
}

/**
 * A small real upstream: echoes what it received as JSON, streams `/stream` in chunks,
 * answers `/delayed` after 500 ms, never answers `/slow`, answers `/headers` with a head of
 * repeated, hop-by-hop and Connection-listed fields (and a non-ASCII value with `?latin=1`),
 * `/large` with 4 MiB of bytes whose SHA-256 is in `x-sha256`, and records every request
 * (complete or aborted).
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
    response.on('close', () => {
      if (!response.writableFinished) entry.abandoned = true;
    });
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
      if (/\/headers(\?|$)/.test(request.url ?? '')) {
        const head = [
          ['Content-Type', 'text/plain'],
          ['Set-Cookie', 'a=1'],
          ['Set-Cookie', 'b=2'],
          ['Connection', 'X-Upstream-Debug'],
          ['X-Upstream-Debug', 'db-3.internal'],
          ['X-Request-Id', 'chosen-by-upstream'],
          ['ETag', '"v1"'],
        ];
        // Node writes header strings as latin1: these are the UTF-8 bytes of "café".
        if (request.url?.endsWith('?latin=1')) head.push(['X-Name', 'caf\u00c3\u00a9']);
        response.writeHead(200, head.flat());
        response.end('headers');
        return;
      }
      if (request.url?.endsWith('/large')) {
        const { bytes, sha256 } = largeAnswer();
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'x-sha256': sha256 });
        response.end(bytes);
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
