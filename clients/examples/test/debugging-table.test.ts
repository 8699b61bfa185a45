// docs/clients.md "Debugging a signature mismatch": every problem code its table names is what a real
// `hmac-kit serve` answers to that mistake, made here on purpose; the table may name no other code.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { PROBLEM_TABLE, parseSecret, signMessage } from '@hmac-kit/core';
import { createSigner, httpbis } from 'http-message-signatures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildForProcesses, type LiveServer, startLiveServer } from '../../../test-support/clients/harness.js';

const DOC = fileURLToPath(new URL('../../../docs/clients.md', import.meta.url));

interface Answer {
  status: number;
  body: { code?: string; server_time?: number };
}

let nextSource = 10;

/**
 * Sends exactly these bytes to exactly this target (fetch would normalise the path), each call from
 * its own loopback address: the server's failure throttle blocks an address after a few failures,
 * and every case here is a failure on purpose.
 */
function send(origin: string, method: string, target: string, headers: Record<string, string>, body?: string) {
  const url = new URL(origin);
  const localAddress = `127.0.0.${nextSource++}`;
  return new Promise<Answer>((resolve, reject) => {
    const request = httpRequest(
      { host: url.hostname, port: Number(url.port), method, path: target, headers, localAddress },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** The table rows of the debugging section, and the snake_case codes each names. */
function tableCodes(): string[] {
  const doc = readFileSync(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## Debugging a signature mismatch'));
  const rows = section.split('\n').filter((line) => line.startsWith('| '));
  const fields = new Set(['server_time', 'retry_after']); // problem body fields, not codes
  const named = rows.flatMap((row) => [...row.matchAll(/`([a-z]+(?:_[a-z]+)+)`/g)].map((found) => found[1]!));
  return [...new Set(named)].filter((name) => !fields.has(name));
}

describe('docs/clients.md debugging table, against hmac-kit serve', () => {
  let server: LiveServer;
  const now = () => Math.floor(Date.now() / 1000);
  beforeAll(async () => {
    buildForProcesses(['packages/cli']);
    server = await startLiveServer();
  }, 300_000);
  afterAll(async () => {
    await server?.close();
  });

  async function signed(
    method: string,
    path: string,
    options: { signBody?: string; key?: { secret?: string | Uint8Array; algorithm?: 'sha256' | 'sha512' } } = {},
    signOptions: Parameters<typeof signMessage>[2] = {},
  ) {
    const key = {
      keyId: server.keyId,
      secret: options.key?.secret ?? server.secret,
      algorithm: options.key?.algorithm ?? ('sha256' as const),
    };
    const { url, headers } = await signMessage(
      { method, url: `${server.origin}${path}`, headers: {}, body: options.signBody ?? null },
      key,
      signOptions,
    );
    return { target: new URL(url).pathname + new URL(url).search, headers };
  }

  /** Signed by a generic RFC 9421 library covering only `fields` (what a misconfigured client does). */
  async function signedCovering(method: string, path: string, fields: string[]) {
    const secret = parseSecret(server.secret);
    const signed = await httpbis.signMessage(
      {
        key: createSigner(Buffer.from(secret), 'hmac-sha256', server.keyId),
        fields,
        params: ['created', 'nonce', 'keyid', 'alg'],
        paramValues: { nonce: randomBytes(16).toString('base64url') },
      },
      { method, url: `${server.origin}${path}`, headers: {} },
    );
    return signed.headers as Record<string, string>;
  }

  /** Each mistake the table names, made for real: the code the server answers. */
  const mistakes: Record<string, () => Promise<Answer>> = {
    digest_mismatch: async () => {
      const { target, headers } = await signed('POST', '/orders', { signBody: '{"sku":"A1"}' });
      return send(server.origin, 'POST', target, headers, '{"sku":"A1"}\n');
    },
    digest_missing: async () => {
      const headers = await signedCovering('POST', '/orders', ['@method', '@authority', '@path', '@query']);
      return send(server.origin, 'POST', '/orders', headers, '{"sku":"A1"}');
    },
    component_not_covered: async () => {
      const headers = await signedCovering('GET', '/orders', ['@method', '@path']);
      return send(server.origin, 'GET', '/orders', headers);
    },
    signature_expired: async () => {
      const { target, headers } = await signed('GET', '/orders', {}, { now: () => now() - 3600 });
      return send(server.origin, 'GET', target, headers);
    },
    signature_from_future: async () => {
      const { target, headers } = await signed('GET', '/orders', {}, { now: () => now() + 3600 });
      return send(server.origin, 'GET', target, headers);
    },
    nonce_replayed: async () => {
      const { target, headers } = await signed('GET', '/orders');
      const first = await send(server.origin, 'GET', target, headers);
      expect(first.status).toBe(200);
      return send(server.origin, 'GET', target, headers);
    },
    signature_invalid: async () => {
      const wrong = crypto.getRandomValues(new Uint8Array(32));
      const { target, headers } = await signed('GET', '/orders', { key: { secret: wrong } });
      return send(server.origin, 'GET', target, headers);
    },
    signature_missing: () => send(server.origin, 'GET', '/orders', {}),
    signature_malformed: async () => {
      const { target, headers } = await signed('GET', '/orders');
      return send(server.origin, 'GET', target, { ...headers, 'signature-input': 'sig=(not structured' });
    },
    request_target_not_normal: async () => {
      const { headers } = await signed('GET', '/orders');
      return send(server.origin, 'GET', '/a/./orders', headers);
    },
  };

  it('names only codes the server has, and each one is shown below', () => {
    const codes = tableCodes();
    expect(codes.length).toBeGreaterThan(5);
    for (const code of codes) {
      expect(Object.keys(PROBLEM_TABLE), code).toContain(code);
      expect(Object.keys(mistakes), `a test for ${code}`).toContain(code);
    }
  });

  for (const [code, mistake] of Object.entries(mistakes)) {
    it(`${code}: the server answers it to that mistake`, async () => {
      const answer = await mistake();
      expect(answer.body.code, JSON.stringify(answer.body)).toBe(code);
      expect(answer.status).toBe(PROBLEM_TABLE[code as keyof typeof PROBLEM_TABLE].status);
      if (code.startsWith('signature_expired') || code === 'signature_from_future') {
        expect(Math.abs((answer.body.server_time ?? 0) - now())).toBeLessThan(120);
      }
    });
  }

  it('a key algorithm mismatch is answered signature_invalid, like any wrong key', async () => {
    // The table's algorithm row: the secret is right, the hash is not the key's.
    const { target, headers } = await signed('GET', '/orders', {
      key: { secret: parseSecret(server.secret), algorithm: 'sha512' },
    });
    const answer = await send(server.origin, 'GET', target, headers);
    expect(answer.body.code).toBe('signature_invalid');
  });
});
