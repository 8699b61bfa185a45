import { connect } from 'node:net';
import { statusOf, takeFramed } from '../../../../test-support/http-framing.js';

/** One answer of {@link pipelinedExchange}: its status, headers (names lower-cased) and the problem's `code`, if any. */
export interface PipelinedAnswer {
  status: number;
  headers: Record<string, string>;
  code?: string;
}

/**
 * The first answer in `buffered` (Content-Length framed, as the server frames its own answers) and
 * the bytes after it; `undefined` while it is not all there.
 */
export function takeAnswer(buffered: Buffer): { answer: PipelinedAnswer; rest: Buffer } | undefined {
  const taken = takeFramed(buffered);
  if (taken === undefined) return undefined;
  const code = /"code"\s*:\s*"([^"]*)"/.exec(taken.body.toString('utf8'))?.[1];
  return {
    answer: { status: statusOf(taken.startLine), headers: taken.headers, ...(code !== undefined ? { code } : {}) },
    rest: taken.rest,
  };
}

/**
 * Writes every request (GET with no body unless it names a method and body) on one connection in
 * ONE write (HTTP/1.1 pipelining), so
 * that the server reads them in one turn, and resolves their answers in order. Answers are read as
 * Content-Length framed (what the server sends for its own answers); a connection that closes
 * early rejects.
 *
 * @example
 * const [first, second] = await pipelinedExchange(new URL(server.url), [{ path: '/verify', headers }, { path: '/verify', headers }]);
 */
export function pipelinedExchange(
  url: URL,
  requests: ReadonlyArray<{ path: string; headers: Record<string, string>; method?: string; body?: string }>,
): Promise<PipelinedAnswer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const answers: PipelinedAnswer[] = [];
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('close', () => {
      if (answers.length < requests.length) {
        reject(new Error(`connection closed after ${answers.length} of ${requests.length} answers`));
      }
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const taken = takeAnswer(buffered);
        if (taken === undefined) return;
        buffered = taken.rest;
        answers.push(taken.answer);
        if (answers.length === requests.length) {
          socket.end();
          resolve(answers);
          return;
        }
      }
    });
    const text = requests
      .map(({ path, headers, method = 'GET', body }) => {
        const lines = [`${method} ${path} HTTP/1.1`, `host: ${url.host}`];
        if (body !== undefined) lines.push(`content-length: ${Buffer.byteLength(body)}`);
        for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
        return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
      })
      .join('');
    socket.write(text);
  });
}
