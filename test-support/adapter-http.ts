import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Harness, Received, SentRequest } from './adapter-suite.js';

/** Parses a response the way every harness reports it. */
export async function received(response: Response): Promise<Received> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    // Non-JSON bodies stay text so failures show what came back.
  }
  return { status: response.status, headers: response.headers, body };
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
