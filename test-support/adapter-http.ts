import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { Harness, Received, SentRequest } from './adapter-suite.js';
import { jsonOrText } from './http-framing.js';

/** Parses a response the way every harness reports it. */
export async function received(response: Response): Promise<Received> {
  return { status: response.status, headers: response.headers, body: jsonOrText(await response.text()) };
}

/** Sends over real HTTP with the global fetch (undici). */
export async function sendOverHttp(origin: string, request: SentRequest): Promise<Received> {
  return received(
    await fetch(`${origin}${request.path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body ?? null,
    }),
  );
}

/**
 * Sends `request` over a bare socket with `target` as the request line's request-target (the
 * absolute form `https://other.example/x`, a `//x` path: what fetch never writes) and a Host header
 * naming `origin`, and parses the one response (`Connection: close`).
 */
export async function sendRawTarget(origin: string, request: SentRequest, target: string): Promise<Received> {
  const { host, hostname, port } = new URL(origin);
  const sent = Buffer.from(request.body ?? '');
  const lines = [`${request.method} ${target} HTTP/1.1`, `host: ${host}`, 'connection: close'];
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
  if (sent.length > 0) lines.push(`content-length: ${sent.length}`);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('end', () => resolve());
    socket.on('error', reject);
  });
  socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), sent]));
  await ended;
  socket.destroy();
  const text = Buffer.concat(chunks).toString('utf8');
  const headEnd = text.indexOf('\r\n\r\n');
  const headers = new Headers();
  for (const line of text.slice(0, headEnd).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = text.slice(headEnd + 4);
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
    let decoded = '';
    for (let at = 0; ; ) {
      const sizeEnd = body.indexOf('\r\n', at);
      const size = Number.parseInt(body.slice(at, sizeEnd), 16);
      if (!(size > 0)) break;
      decoded += body.slice(sizeEnd + 2, sizeEnd + 2 + size);
      at = sizeEnd + 2 + size + 2;
    }
    body = decoded;
    headers.delete('transfer-encoding');
  }
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  return received(new Response(status === 204 ? null : body, { status, headers }));
}

/** Listens on an ephemeral port on 127.0.0.1 and exposes the server as a harness. */
export async function listening(server: Server): Promise<Harness> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    send: (request) => sendOverHttp(origin, request),
    sendRawTarget: (request, target) => sendRawTarget(origin, request, target),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
