import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { rawRequest, sendRawBytes } from '../support/raw-http.js';

// Adversarial review of issue #11 (helper "review"), "verify one thing, forward another" through the
// gateway with an upstream that records raw bytes: duplicate header lines, Content-Length against
// Transfer-Encoding, two Content-Lengths. Each test asserts the SAFE behaviour.

/** Writes `head` + `body` byte for byte on a fresh connection; resolves with the status code. */
async function rawExchange(origin: string, head: string[], body: string): Promise<number> {
  const text = await sendRawBytes(origin, `${head.join('\r\n')}\r\n\r\n${body}`);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

describe('adversarial review: what the gateway verifies is what the upstream receives', () => {
  let gateway: RawUpstreamGateway | undefined;
  let upstream: RawUpstreamGateway['upstream'];
  let server: RunningServer;
  let key: RawUpstreamGateway['key'];

  beforeAll(async () => {
    gateway = await startRawUpstreamGateway('gateway-review');
    ({ upstream, server, key } = gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  async function signedPost(path: string, body: string): Promise<Record<string, string>> {
    const result = await signMessage(
      { method: 'POST', url: `${server.url}${path}`, headers: { 'content-type': 'application/json' }, body },
      key,
      { coveredHeaders: ['content-type'] },
    );
    return { 'content-type': 'application/json', ...result.headers, 'x-forwarded-for': freshAddress() };
  }

  it('a second Content-Type line never reaches the upstream beside the signed one', async () => {
    const body = '{"amount":5}';
    const headers = await signedPost('/pay', body);
    const input = Object.entries(headers).find(([name]) => name.toLowerCase() === 'signature-input')?.[1];
    expect(input).toContain('"content-type"');
    for (const order of ['after', 'before'] as const) {
      const before = upstream.seen.length;
      // Header names differing only in case are two lines on the wire.
      const sent =
        order === 'after' ? { ...headers, 'Content-Type': 'text/plain' } : { 'Content-Type': 'text/plain', ...headers };
      const answer = await rawRequest(server.url, 'POST', '/pay', sent, body);
      if (answer.status === 200) {
        const forwarded = upstream.seen.slice(before);
        expect(forwarded).toHaveLength(1);
        const contentTypes = forwarded[0]?.headerLines.filter((line) => /^content-type:/i.test(line)) ?? [];
        expect(contentTypes, `${order}: ${contentTypes.join(' | ')}`).toEqual(['content-type: application/json']);
        expect(forwarded[0]?.body.toString('utf8')).toBe(body);
      } else {
        expect(answer.status, `${order}: ${answer.body}`).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        expect(upstream.seen.length).toBe(before);
      }
    }
  }, 60_000);

  it('Content-Length with Transfer-Encoding (request smuggling) is refused before the upstream', async () => {
    const body = '{"amount":5}';
    const headers = await signedPost('/pay', body);
    const { host } = new URL(server.url);
    const before = upstream.seen.length;
    const head = [
      'POST /pay HTTP/1.1',
      `Host: ${host}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      `Content-Length: ${body.length}`,
      'Transfer-Encoding: chunked',
      'Connection: close',
    ];
    const smuggled = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    const status = await rawExchange(server.url, head, smuggled);
    expect(status).toBe(400);
    expect(upstream.seen.length).toBe(before);
  }, 60_000);

  it('two different Content-Length values are refused before the upstream', async () => {
    const body = '{"amount":5}';
    const headers = await signedPost('/pay', body);
    const { host } = new URL(server.url);
    const before = upstream.seen.length;
    const head = [
      'POST /pay HTTP/1.1',
      `Host: ${host}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      `Content-Length: ${body.length}`,
      `Content-Length: ${body.length + 5}`,
      'Connection: close',
    ];
    const status = await rawExchange(server.url, head, `${body}extra`);
    expect(status).toBe(400);
    expect(upstream.seen.length).toBe(before);
  }, 60_000);

  it('the signed query string is forwarded byte for byte, and a changed one is refused', async () => {
    const target = '/search?q=a%20b&q=c&x=%2F';
    const result = await signMessage({ method: 'GET', url: `${server.url}${target}`, headers: {} }, key);
    const headers = { ...result.headers, 'x-forwarded-for': freshAddress() };
    const before = upstream.seen.length;
    const answer = await rawRequest(server.url, 'GET', target, headers);
    expect(answer.status, answer.body).toBe(200);
    expect(upstream.seen[before]?.requestLine).toBe(`GET ${target} HTTP/1.1`);
    // Same signature, a reordered query: the upstream must never see it.
    const reordered = await rawRequest(server.url, 'GET', '/search?q=c&q=a%20b&x=%2F', {
      ...headers,
      'x-forwarded-for': freshAddress(),
    });
    expect(reordered.status).toBeGreaterThanOrEqual(400);
    expect(reordered.status).toBeLessThan(500);
    expect(upstream.seen.length).toBe(before + 1);
  }, 60_000);
});
