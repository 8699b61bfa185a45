import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ProblemCode, problemBody } from '@hmac-kit/core';

/** A problem+json body (RFC 9457) as the server sends it. */
export interface ServerProblem {
  status: number;
  headers?: Record<string, string>;
  body: { type: string; title: string; status: number; code: ProblemCode; detail?: string; instance?: string };
}

/**
 * Builds a problem for failures that are the server's own (routing, request targets, the admin
 * API; verification failures go through the core's `toProblem`). Status, title and `type`
 * (`urn:hmac-kit:problem:<code>`) come from the core's `PROBLEM_TABLE`: one style for every answer.
 * `detail` (default: the table's) must never carry a secret.
 *
 * @example
 * ```ts
 * sendProblem(response, serverProblem('not_found'), context.id);
 * ```
 */
export function serverProblem(code: ProblemCode, detail?: string): ServerProblem {
  const body = problemBody(code, detail);
  return { status: body.status, body };
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  response.end(payload);
}

export function sendProblem(response: ServerResponse, problem: ServerProblem, instance?: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = instance && problem.body.instance === undefined ? { ...problem.body, instance } : problem.body;
  const payload = JSON.stringify(body);
  response.writeHead(problem.status, {
    ...problem.headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  response.end(payload);
}

/** Thrown when a request body is larger than the route accepts. */
export class PayloadTooLarge extends Error {}

/** Reads a whole (small) request body, refusing more than `limit` bytes. */
export async function readBody(request: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) throw new PayloadTooLarge(`body larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLarge(`body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  const joined = Buffer.concat(chunks);
  return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
}

/** First value of a header that Node may have folded into an array. */
export function headerValue(request: IncomingMessage, name: string): string | undefined {
  return firstValue(request.headers[name]);
}

/**
 * {@link headerValue}'s rule for a value already read (`request.headers['x-name']`: a named load at the
 * call site rather than headerValue's one keyed load for every name, on the per-request paths).
 */
export function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
