/**
 * Review of the check-phase batches (`inCheckPhase`): sends raw HTTP/1.1 bytes on many sockets so
 * that the server, in this very process, reads them all in one poll phase and so verifies them in
 * one batch. The test's thread sleeps (`Atomics.wait`) after the writes: the kernel then holds every
 * socket's bytes (and FIN, when asked) when the loop next polls, and libuv reads them all, data and
 * end alike, before the check phase.
 */
import { connect, type Socket } from 'node:net';
import { type SigningKey, signMessage } from '@hmac-kit/core';
import { jsonOrText, statusOf, takeFramed } from './http-framing.js';
import { until } from './wait.js';

/** A response parsed off the socket. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the routes under test
  body: any;
}

/** Blocks this thread for `ms` (the event loop polls nothing meanwhile). */
export function sleepBlocking(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The bytes of a request, signed for `origin` with `key` (unsigned when `key` is undefined). */
export async function rawRequest(
  origin: string,
  request: { method: string; path: string; headers?: Record<string, string>; body?: string },
  key: SigningKey | undefined,
  options: { signedBody?: string; extraHeaders?: Record<string, string> } = {},
): Promise<string> {
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  const body = request.body ?? '';
  const signedBody = options.signedBody ?? body;
  let signature: Record<string, string> = {};
  if (key !== undefined) {
    const prepared = await signMessage(
      {
        method: request.method,
        url: `${origin}${request.path}`,
        headers,
        body: signedBody.length > 0 ? new TextEncoder().encode(signedBody) : null,
      },
      key,
    );
    signature = prepared.headers;
  }
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `Host: ${new URL(origin).host}`];
  for (const [name, value] of Object.entries({ ...headers, ...signature, ...(options.extraHeaders ?? {}) })) {
    lines.push(`${name}: ${value}`);
  }
  if (body.length > 0 || request.method === 'POST') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A socket with the answers parsed off it as they come. */
export interface Client {
  socket: Socket;
  answers: RawAnswer[];
  /** Resolves once `count` answers came, or the socket closed (with what came). */
  waitFor(count: number, timeoutMs?: number): Promise<RawAnswer[]>;
}

/** The server under test (in this process): a node:http, https, http2 or net server. */
export interface AcceptingServer {
  on(event: 'connection', listener: () => void): unknown;
  off(event: 'connection', listener: () => void): unknown;
}

/**
 * Opens `count` sockets to `origin`, and waits until `server` (listening on `origin`, in this
 * process) has accepted them all: a connection accepted in the poll phase that reads its first
 * bytes has them read in a poll phase of its own, out of the batch.
 */
export async function clients(origin: string, count: number, server: AcceptingServer): Promise<Client[]> {
  const { hostname, port } = new URL(origin);
  let accepted = 0;
  const onConnection = () => {
    accepted++;
  };
  server.on('connection', onConnection);
  try {
    const opened = await open(hostname, Number(port), count);
    // Accepted by the server (its poll phase) before the writes.
    await until(() => accepted >= count);
    return opened;
  } finally {
    server.off('connection', onConnection);
  }
}

function open(hostname: string, port: number, count: number): Promise<Client[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Client>((resolve, reject) => {
          const socket = connect(port, hostname);
          const answers: RawAnswer[] = [];
          const waiters: Array<() => void> = [];
          let closed = false;
          let buffered: Buffer = Buffer.alloc(0);
          const wake = () => {
            for (const waiter of waiters.splice(0)) waiter();
          };
          socket.on('error', () => {});
          socket.on('close', () => {
            closed = true;
            wake();
          });
          socket.on('data', (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk]);
            for (let taken = takeFramed(buffered); taken !== undefined; taken = takeFramed(buffered)) {
              const body = jsonOrText(taken.body.toString('utf8'));
              answers.push({ status: statusOf(taken.startLine), headers: taken.headers, body });
              buffered = taken.rest;
            }
            wake();
          });
          socket.on('connect', () =>
            resolve({
              socket,
              answers,
              waitFor(want, timeoutMs = 5000) {
                return new Promise((done) => {
                  const timer = setTimeout(() => done(answers), timeoutMs);
                  const check = () => {
                    if (answers.length >= want || closed) {
                      clearTimeout(timer);
                      done(answers);
                    } else waiters.push(check);
                  };
                  check();
                });
              },
            }),
          );
          socket.once('error', reject);
        }),
    ),
  );
}

/**
 * Writes each `[client, bytes, end]` and then blocks the thread, so that the server reads them all
 * (and each FIN asked for) in its next poll phase: one check-phase batch.
 */
export function writeInOneTurn(writes: Array<[Client, string | Buffer, boolean?]>, blockMs = 60): void {
  for (const [client, bytes, end] of writes) {
    if (end) client.socket.end(bytes);
    else client.socket.write(bytes);
  }
  sleepBlocking(blockMs);
}
