// Runs the real `curl --aws-sigv4` binary against a node:http server on an ephemeral
// port, captures exactly what curl sent, and verifies it with the sigv4() scheme:
// the AWS provider and the branded `hmackit` provider, GET with a query and POST
// with a body, and curl < 8's unsorted query (curl issue 9717).
import { execFile, execFileSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import type { MessageParts, Scheme, VerificationKey } from '@hmac-kit/core';
import { HmacKitError, SignatureInvalid, sigv4 } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWith } from './support/scheme-check.js';

const run = promisify(execFile);

let curlVersion: [number, number] | undefined;
try {
  const match = /^curl (\d+)\.(\d+)/.exec(execFileSync('curl', ['--version']).toString());
  if (match) curlVersion = [Number(match[1]), Number(match[2])];
} catch {
  curlVersion = undefined;
}
const hasSigV4 = curlVersion !== undefined && (curlVersion[0] > 7 || curlVersion[1] >= 75);
if (!hasSigV4) {
  if (process.env.CI === 'true') throw new Error('curl >= 7.75 with --aws-sigv4 is required');
  console.warn('[sigv4-curl] SKIPPED: no curl with --aws-sigv4');
}
const curlSortsQuery = curlVersion !== undefined && curlVersion[0] >= 8;

const raw = new Uint8Array(32).map((_, i) => 255 - i * 3);
const secret = `hks_${Buffer.from(raw).toString('base64url')}`;
const key: VerificationKey = { keyId: 'hk_curltest', secret: raw, algorithm: 'sha256' };

interface Captured {
  message: MessageParts & { headers: IncomingHttpHeaders };
  body: Uint8Array;
}

let captured: Captured[] = [];
let origin = '';
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    captured.push({
      message: {
        method: req.method!,
        url: `http://${req.headers.host}${req.url}`,
        headers: req.headers,
      },
      body: new Uint8Array(Buffer.concat(chunks)),
    });
    res.end('ok');
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function curl(provider: string, path: string, extra: string[] = []): Promise<Captured> {
  captured = [];
  await run('curl', ['-sS', '--aws-sigv4', provider, '--user', `${key.keyId}:${secret}`, ...extra, `${origin}${path}`]);
  expect(captured).toHaveLength(1);
  return captured[0]!;
}

async function verify(scheme: Scheme, { message, body }: Captured) {
  const check = await checkWith(scheme, message, {
    keys: (id) => (id === key.keyId ? key : undefined),
    crypto: nodeCryptoProvider,
    hasBody: body.length > 0,
  });
  if (check.body) {
    check.body.update(body);
    await check.body.finish();
  }
  return check.result;
}

describe.skipIf(!hasSigV4)(`curl ${curlVersion?.join('.')} --aws-sigv4`, () => {
  const scheme = sigv4();

  for (const [label, provider, region] of [
    ['aws provider', 'aws:amz:us-east-1:hmac-kit', 'us-east-1'],
    ['branded hmackit provider', 'hmackit:hmackit:eu-west-1:hmac-kit', 'eu-west-1'],
  ] as const) {
    describe(label, () => {
      it('GET with a (sorted) query', async () => {
        const request = await curl(provider, '/v1/items?a=1&b=two');
        const authorization = String(request.message.headers['authorization']);
        expect(authorization).toContain(`/${region}/hmac-kit/`);
        const result = await verify(scheme, request);
        expect(result).toMatchObject({ scheme: 'sigv4', keyId: key.keyId });
      });

      it('POST with a body (signature checked after the body is hashed)', async () => {
        const request = await curl(provider, '/v1/orders?x=1', ['-d', '{"item":42,"note":"hello"}']);
        expect(request.body.length).toBeGreaterThan(0);
        await verify(scheme, request);
        const tampered = { ...request, body: new TextEncoder().encode('{"item":43,"note":"hello"}') };
        await expect(verify(scheme, tampered)).rejects.toBeInstanceOf(SignatureInvalid);
      });

      it('a path with percent-encoding', async () => {
        await verify(scheme, await curl(provider, '/files/a%20b/c.txt'));
      });

      it('a tampered path or header is rejected', async () => {
        const request = await curl(provider, '/v1/items?a=1');
        const otherPath = {
          ...request,
          message: { ...request.message, url: String(request.message.url).replace('/items', '/itemz') },
        };
        await expect(verify(scheme, otherPath)).rejects.toBeInstanceOf(SignatureInvalid);
      });
    });
  }

  it('branded requests carry the names curl derives from the provider', async () => {
    const { message } = await curl('hmackit:hmackit:eu-west-1:hmac-kit', '/');
    expect(String(message.headers['authorization'])).toMatch(
      /^HMACKIT4-HMAC-SHA256 Credential=hk_curltest\/\d{8}\/eu-west-1\/hmac-kit\/hmackit4_request, SignedHeaders=host;x-hmackit-date, Signature=[0-9a-f]{64}$/,
    );
    expect(message.headers['x-hmackit-date']).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it('an unsorted query: accepted by the as-sent fallback, refused without it (unless curl sorts)', async () => {
    const request = await curl('aws:amz:us-east-1:hmac-kit', '/v1/search?z=last&a=first&m=x%2Fy');
    await verify(scheme, request);
    const strict = sigv4({ acceptUnsortedQuery: false });
    if (curlSortsQuery) {
      await verify(strict, request);
    } else {
      const error = await verify(strict, request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HmacKitError);
      expect(error).toBeInstanceOf(SignatureInvalid);
    }
  });

  it('refuses a service that is not configured', async () => {
    const request = await curl('aws:amz:us-east-1:execute-api', '/');
    await expect(verify(scheme, request)).rejects.toBeInstanceOf(SignatureInvalid);
    await verify(sigv4({ services: ['execute-api'] }), request);
  });
});
