/**
 * Review (session 5), the one body rule (`Content-Length: 00` is no body): through the gateway and
 * a raw upstream, with raw sockets so no client library normalises the framing. The attack: a
 * request verified as bodiless whose body still reaches the upstream, either as its body or glued
 * to it on the connection. Node's parser decides where the body ends; the gateway must agree.
 */
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { sendRawBytes } from '../support/raw-http.js';

/** Writes `bytes` on one connection and returns the status of every response read until the server closes. */
async function exchange(origin: string, bytes: string): Promise<number[]> {
  const text = await sendRawBytes(origin, bytes);
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
}

describe('review5: a request verified as bodiless never forwards a body (raw sockets)', () => {
  let gateway: RawUpstreamGateway | undefined;
  let upstream: RawUpstreamGateway['upstream'];
  let server: RunningServer;
  let key: RawUpstreamGateway['key'];
  let host: string;

  beforeAll(async () => {
    gateway = await startRawUpstreamGateway('review5-body-rule');
    ({ upstream, server, key } = gateway);
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** The head of a request signed without a body (no content-digest covered), ending in CRLF CRLF. */
  async function signedHead(method: string, path: string, framing: string[], close = false): Promise<string> {
    const { headers } = await signMessage({ method, url: `${server.url}${path}`, headers: {} }, key);
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    lines.push(...framing);
    if (close) lines.push('Connection: close');
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  const forwardedTo = (path: string, since: number) =>
    upstream.seen.slice(since).filter((seen) => seen.requestLine.split(' ')[1]?.startsWith(path));

  it.each(['GET', 'DELETE', 'OPTIONS'])(
    '%s with Content-Length: 00 and bytes after it: they are the next request, verified on their own',
    async (method) => {
      const path = `/review5-cl00-${method.toLowerCase()}`;
      const smuggled = `/review5-smuggled-${method.toLowerCase()}`;
      const before = upstream.seen.length;
      const statuses = await exchange(
        server.url,
        (await signedHead(method, path, ['Content-Length: 00'])) +
          `POST ${smuggled} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      );
      expect(statuses).toEqual([200, 401]);
      const forwarded = forwardedTo(path, before);
      expect(forwarded).toHaveLength(1);
      expect(forwarded[0]!.body.length).toBe(0);
      expect(forwarded[0]!.headerLines.some((line) => /^content-length:\s*[1-9]/i.test(line))).toBe(false);
      expect(forwardedTo(smuggled, before)).toHaveLength(0);
    },
  );

  it('Content-Length: 0000 with garbage after it: the parser refuses the garbage, no body is forwarded', async () => {
    const path = '/review5-cl0000-garbage';
    const before = upstream.seen.length;
    const statuses = await exchange(server.url, `${await signedHead('GET', path, ['Content-Length: 0000'])}hello`);
    // The unparseable "hello" is a head refused behind the first request's answer, still owed (the
    // gateway's is asynchronous): that answer is finished and nothing follows it (parser25; Node
    // wrote its 400 ahead of that answer, which the client read as the first request's).
    expect(statuses).toEqual([200]);
    const forwarded = upstream.seen.slice(before);
    expect(forwarded.length).toBeLessThanOrEqual(1);
    for (const seen of forwarded) {
      expect(seen.requestLine.startsWith(`GET ${path} `)).toBe(true);
      expect(seen.body.length).toBe(0);
    }
  });

  // A GET with a body is refused 400 body_not_allowed before it is verified (getbody19); a DELETE
  // keeps its body, so the body rule (a body its signature does not cover: 401) is held there.
  it.each([
    ['GET', 'a leading-zero length of a real body', ['Content-Length: 05'], 400],
    ['GET', 'a plain length', ['Content-Length: 5'], 400],
    ['GET', 'chunked', ['Transfer-Encoding: chunked'], 400],
    ['DELETE', 'a leading-zero length of a real body', ['Content-Length: 05'], 401],
    ['DELETE', 'a plain length', ['Content-Length: 5'], 401],
    ['DELETE', 'chunked', ['Transfer-Encoding: chunked'], 401],
  ])('a %s signed as bodiless with %s is refused and not forwarded', async (method, _what, framing, status) => {
    const path = `/review5-body-${method.toLowerCase()}-${framing[0]!.replace(/\W+/g, '-')}`;
    const body = framing[0]!.startsWith('Transfer') ? '5\r\nhello\r\n0\r\n\r\n' : 'hello';
    const before = upstream.seen.length;
    const statuses = await exchange(server.url, `${await signedHead(method, path, framing, true)}${body}`);
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toBe(status);
    expect(forwardedTo(path, before)).toHaveLength(0);
  });

  it.each([
    ['Content-Length: 0, 5', ['Content-Length: 0, 5']],
    ['two Content-Length lines, 0 and 5', ['Content-Length: 0', 'Content-Length: 5']],
    ['two Content-Length lines, 00 and 0', ['Content-Length: 00', 'Content-Length: 0']],
    ['Transfer-Encoding and Content-Length: 0', ['Transfer-Encoding: chunked', 'Content-Length: 0']],
    ['Content-Length: +0', ['Content-Length: +0']],
    ['Content-Length: 0x0', ['Content-Length: 0x0']],
    ['an empty Transfer-Encoding', ['Transfer-Encoding: ']],
  ])(
    'ambiguous framing (%s) is refused by the parser before anything is verified or forwarded',
    async (_what, framing) => {
      const path = `/review5-ambiguous-${Math.random().toString(36).slice(2)}`;
      const before = upstream.seen.length;
      const statuses = await exchange(server.url, `${await signedHead('GET', path, framing, true)}hello`);
      expect(statuses).toEqual([400]);
      expect(forwardedTo(path, before)).toHaveLength(0);
    },
  );
});
