/**
 * Attacks on the gateway's check-phase batches (session 15, batch-serve): every request that arrived
 * in one event-loop turn waits for the check phase, and the batch then verifies them back to back
 * (their admissions, body checks and relays in step). Through an in-process gateway in front of a
 * raw upstream that records the bytes it receives: the upstream gets exactly the verified bytes of
 * every request of a batch (no mix-up of bodies, targets or identities between the requests of one
 * batch); copies of one signed request in one batch reach the upstream once; a body-tampered copy
 * ahead of the genuine one in the same batch burns no nonce; a client that leaves before its batch
 * runs breaks nothing.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, signed } from '../../../../test-support/cli-client.js';
import { concurrentExchange, watchTurns } from '../support/concurrent.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { pipelinedExchange } from '../support/pipelined.js';

/** A signed POST of `body` to `path` through the gateway, numbered `seq` (an unsigned header). */
async function post(
  gateway: RawUpstreamGateway,
  path: string,
  body: string,
  seq: string,
): Promise<{ path: string; method: string; body: string; headers: Record<string, string> }> {
  const request = await signed(gateway.key, 'POST', `${gateway.server.url}${path}`, { body });
  return {
    path,
    method: 'POST',
    body,
    headers: {
      ...(request.init.headers as Record<string, string>),
      'x-forwarded-for': freshAddress(),
      'x-test-seq': seq,
    },
  };
}

const outcome = (answer: { status: number; code?: string } | undefined) =>
  answer === undefined ? 'closed' : `${answer.status} ${answer.code ?? ''}`.trim();

/** The upstream's record of one request: its target, body, and named header values. */
function received(gateway: RawUpstreamGateway) {
  return gateway.upstream.seen.map((seen) => {
    const header = (name: string) =>
      seen.headerLines.find((line) => line.toLowerCase().startsWith(`${name}:`))?.replace(/^[^:]*:\s*/, '');
    return {
      target: seen.requestLine.split(' ')[1],
      body: seen.body.toString('utf8'),
      seq: header('x-test-seq'),
      keyId: header('x-authenticated-key-id'),
      digest: header('content-digest'),
    };
  });
}

describe('adversarial (batch-serve): gateway check-phase batches', () => {
  let gateway: RawUpstreamGateway;

  beforeAll(async () => {
    gateway = await startRawUpstreamGateway('batch-gw');
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** Distinct signed POSTs: each its own target and body, numbered. */
  const distinct = (prefix: string, count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, index) =>
        post(
          gateway,
          `/orders/${prefix}-${index}?n=${index}`,
          JSON.stringify({ n: index, pad: 'x'.repeat(index * 37) }),
          `${prefix}-${index}`,
        ),
      ),
    );

  /** Every request the upstream got carries the target, body and digest signed for it. */
  function expectVerifiedBytes(requests: Awaited<ReturnType<typeof distinct>>) {
    const got = received(gateway);
    for (const request of requests) {
      const seq = request.headers['x-test-seq'];
      const matching = got.filter((entry) => entry.seq === seq);
      expect(matching, seq).toHaveLength(1);
      expect(matching[0]).toEqual({
        target: request.path,
        body: request.body,
        seq,
        keyId: gateway.key.keyId,
        digest: Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'content-digest')?.[1],
      });
    }
  }

  it('pipelined in one write (one batch): the upstream gets each request with its own verified target and body', async () => {
    const turns = watchTurns(gateway.server.server);
    try {
      const requests = await distinct('p', 8);
      const answers = await pipelinedExchange(new URL(gateway.server.url), requests);
      expect(new Set(requests.map((request) => turns.turnOf.get(request.headers['x-test-seq']!))).size).toBe(1);
      expect(answers.map(outcome)).toEqual(Array(8).fill('200'));
      expectVerifiedBytes(requests);
    } finally {
      turns.stop();
    }
  });

  it('on several connections written at once (one batch): the upstream gets each request with its own verified target and body', async () => {
    let batched = false;
    for (let attempt = 0; attempt < 20 && !batched; attempt++) {
      const turns = watchTurns(gateway.server.server);
      try {
        const requests = await distinct(`c${attempt}`, 6);
        const answers = await concurrentExchange(new URL(gateway.server.url), requests, {
          server: gateway.server.server,
        });
        expect(answers.map(outcome)).toEqual(Array(6).fill('200'));
        expectVerifiedBytes(requests);
        batched = new Set(requests.map((request) => turns.turnOf.get(request.headers['x-test-seq']!))).size === 1;
      } finally {
        turns.stop();
      }
    }
    expect(batched).toBe(true);
  });

  it('copies of one signed request in one batch: one forwarded, the rest nonce_replayed', async () => {
    const request = await post(gateway, '/orders/copies', '{"copy":true}', 'copies');
    const before = received(gateway).length;
    const answers = await pipelinedExchange(new URL(gateway.server.url), [request, request, request, request]);
    expect(answers.map(outcome)).toEqual(['200', '401 nonce_replayed', '401 nonce_replayed', '401 nonce_replayed']);
    expect(
      received(gateway)
        .slice(before)
        .map((entry) => entry.seq),
    ).toEqual(['copies']);

    let batched = false;
    for (let attempt = 0; attempt < 20 && !batched; attempt++) {
      const turns = watchTurns(gateway.server.server);
      try {
        const copy = await post(gateway, '/orders/copies', '{"copy":true}', '');
        // The same signed request four times; only the unsigned x-test-seq tells the copies apart.
        const copies = [0, 1, 2, 3].map((index) => ({
          ...copy,
          headers: { ...copy.headers, 'x-test-seq': `copies-${attempt}-${index}` },
        }));
        const start = received(gateway).length;
        const spread = (
          await concurrentExchange(new URL(gateway.server.url), copies, { server: gateway.server.server })
        ).map(outcome);
        expect(spread.filter((answer) => answer === '200')).toHaveLength(1);
        expect(spread.filter((answer) => answer === '401 nonce_replayed')).toHaveLength(3);
        expect(received(gateway).slice(start)).toHaveLength(1);
        batched = new Set(copies.map((entry) => turns.turnOf.get(entry.headers['x-test-seq']!))).size === 1;
      } finally {
        turns.stop();
      }
    }
    expect(batched).toBe(true);
  });

  it('a body-tampered copy ahead of the genuine request in the same batch burns no nonce and never reaches the upstream', async () => {
    const genuine = await post(gateway, '/orders/tampered', '{"amount":100}', 'genuine');
    const tampered = { ...genuine, body: '{"amount":999}', headers: { ...genuine.headers, 'x-test-seq': 'tampered' } };
    const before = received(gateway).length;
    const answers = await pipelinedExchange(new URL(gateway.server.url), [tampered, genuine, genuine]);
    expect(answers.map(outcome)).toEqual(['401 digest_mismatch', '200', '401 nonce_replayed']);
    const got = received(gateway).slice(before);
    expect(got.map((entry) => [entry.seq, entry.body])).toEqual([['genuine', '{"amount":100}']]);
  });

  it('a client that leaves before its batch runs breaks neither the others of the batch nor the gateway', async () => {
    const gone = (request: IncomingMessage) => {
      if (request.headers['x-test-gone'] === '1') request.socket.destroy();
    };
    gateway.server.server.on('request', gone);
    let batched = false;
    try {
      for (let attempt = 0; attempt < 20 && !batched; attempt++) {
        const turns = watchTurns(gateway.server.server);
        try {
          const requests = await distinct(`g${attempt}`, 4);
          requests[1]!.headers['x-test-gone'] = '1';
          const answers = (
            await concurrentExchange(new URL(gateway.server.url), requests, { server: gateway.server.server })
          ).map(outcome);
          expect(answers).toEqual(['200', 'closed', '200', '200']);
          expectVerifiedBytes([requests[0]!, requests[2]!, requests[3]!]);
          batched = new Set(requests.map((request) => turns.turnOf.get(request.headers['x-test-seq']!))).size === 1;
        } finally {
          turns.stop();
        }
      }
    } finally {
      gateway.server.server.off('request', gone);
    }
    expect(batched).toBe(true);
    const [after] = await pipelinedExchange(new URL(gateway.server.url), await distinct('after', 1));
    expect(outcome(after)).toBe('200');
  });
});
