// The AWS SigV4 test suite (awslabs/aws-c-auth tests/aws-signing-test-suite/v4), read
// from test-support/vectors/sigv4: every applicable case is signed step by step (canonical
// request, string to sign, signature compared with the files) and the suite's signed
// requests are verified through the sigv4() scheme.
import { readdirSync, readFileSync } from 'node:fs';
import type { MessageParts, VerificationKey } from '@hmac-kit/core';
import {
  sigv4,
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4SigningKey,
  sigv4StringToSign,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { publishedVectorPath } from '../../../test-support/published-vectors.js';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

const SUITE = publishedVectorPath('sigv4/v4/');

/** Cases we do not run, with the reason. */
const NOT_APPLICABLE: Record<string, string> = {
  'get-vanilla-with-session-token': 'session tokens (STS temporary credentials) are not issued by hmac-kit',
  'post-sts-header-after': 'session tokens (STS temporary credentials) are not issued by hmac-kit',
  'post-sts-header-before': 'session tokens (STS temporary credentials) are not issued by hmac-kit',
};

interface Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  expiration_in_seconds: number;
  normalize: boolean;
  region: string;
  service: string;
  sign_body: boolean;
  timestamp: string;
}

interface RawRequest {
  method: string;
  path: string;
  query: string | null;
  headers: [string, string][];
  body: string;
}

/** Parses the suite's HTTP/1.1 text (folded header lines kept with their newline). */
function parseRequest(text: string): RawRequest {
  const [head, ...rest] = text.split('\n\n');
  const lines = head!.split('\n');
  const requestLine = lines.shift()!;
  const method = requestLine.slice(0, requestLine.indexOf(' '));
  const target = requestLine.slice(method.length + 1, requestLine.lastIndexOf(' HTTP/'));
  const q = target.indexOf('?');
  const headers: [string, string][] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && headers.length > 0) headers[headers.length - 1]![1] += `\n${line}`;
    else if (line) {
      const colon = line.indexOf(':');
      headers.push([line.slice(0, colon), line.slice(colon + 1)]);
    }
  }
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? null : target.slice(q + 1),
    headers,
    body: rest.join('\n\n'),
  };
}

function grouped(headers: [string, string][]): [string, string[]][] {
  const map = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    map.set(lower, [...(map.get(lower) ?? []), value]);
  }
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
}

function asMessage(request: RawRequest): MessageParts {
  const record: Record<string, string[]> = {};
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    record[lower] = [...(record[lower] ?? []), value];
  }
  const host = record['host']![0]!;
  return {
    method: request.method,
    url: `https://${host}${request.path}${request.query === null ? '' : `?${request.query}`}`,
    headers: record,
  };
}

const read = (dir: string, file: string) => readFileSync(`${SUITE}${dir}/${file}`, 'utf8');
const cases = readdirSync(SUITE).sort();
const crypto = nodeCryptoProvider;
const sha256Hex = (text: string) => {
  const hash = crypto.createHash('sha256');
  hash.update(new TextEncoder().encode(text));
  return Buffer.from(hash.digest()).toString('hex');
};

describe('AWS SigV4 suite', () => {
  it('has the cases this test expects', () => {
    expect(cases.length).toBeGreaterThanOrEqual(38);
    for (const name of Object.keys(NOT_APPLICABLE)) expect(cases).toContain(name);
  });

  for (const name of cases) {
    const reason = NOT_APPLICABLE[name];
    if (reason) {
      it.skip(`${name} (not applicable: ${reason})`, () => {});
      continue;
    }

    describe(name, () => {
      const context = JSON.parse(read(name, 'context.json')) as Context;
      const request = parseRequest(read(name, 'request.txt'));
      const amzDate = context.timestamp.replace(/[-:]/g, '');
      const date = amzDate.slice(0, 8);
      const scope = `${date}/${context.region}/${context.service}/aws4_request`;
      const canonicalUri = sigv4CanonicalUri(request.path, { normalize: context.normalize, encode: true });
      const payloadHash = sha256Hex(request.body);

      it('header form: canonical request, string to sign and signature match the suite', async () => {
        const headers = grouped([
          ...request.headers,
          ['X-Amz-Date', amzDate],
          ...(context.sign_body ? ([['x-amz-content-sha256', payloadHash]] as [string, string][]) : []),
        ]);
        const canonicalRequest = sigv4CanonicalRequest({
          method: request.method,
          canonicalUri,
          canonicalQuery: sigv4CanonicalQuery(request.query),
          headers,
          payloadHash,
        });
        expect(canonicalRequest).toBe(read(name, 'header-canonical-request.txt'));
        const stringToSign = sigv4StringToSign(
          { algorithm: 'AWS4-HMAC-SHA256', amzDate, scope, canonicalRequest },
          crypto,
        );
        expect(stringToSign).toBe(read(name, 'header-string-to-sign.txt'));
        const key = await sigv4SigningKey(
          { secret: context.credentials.secret_access_key, date, region: context.region, service: context.service },
          crypto,
        );
        const signature = Buffer.from(await crypto.hmac('sha256', key, new TextEncoder().encode(stringToSign)));
        expect(signature.toString('hex')).toBe(read(name, 'header-signature.txt').trim());
      });

      it('query form: canonical request, string to sign and signature match the suite', async () => {
        const headers = grouped(request.headers);
        const presign = [
          'X-Amz-Algorithm=AWS4-HMAC-SHA256',
          `X-Amz-Credential=${encodeURIComponent(`${context.credentials.access_key_id}/${scope}`)}`,
          `X-Amz-Date=${amzDate}`,
          `X-Amz-Expires=${context.expiration_in_seconds}`,
          `X-Amz-SignedHeaders=${encodeURIComponent(headers.map(([n]) => n).join(';'))}`,
        ];
        const query = [request.query, ...presign].filter(Boolean).join('&');
        const canonicalRequest = sigv4CanonicalRequest({
          method: request.method,
          canonicalUri,
          canonicalQuery: sigv4CanonicalQuery(query),
          headers,
          payloadHash,
        });
        expect(canonicalRequest).toBe(read(name, 'query-canonical-request.txt'));
        const stringToSign = sigv4StringToSign(
          { algorithm: 'AWS4-HMAC-SHA256', amzDate, scope, canonicalRequest },
          crypto,
        );
        expect(stringToSign).toBe(read(name, 'query-string-to-sign.txt'));
        const key = await sigv4SigningKey(
          { secret: context.credentials.secret_access_key, date, region: context.region, service: context.service },
          crypto,
        );
        const signature = Buffer.from(await crypto.hmac('sha256', key, new TextEncoder().encode(stringToSign)));
        expect(signature.toString('hex')).toBe(read(name, 'query-signature.txt').trim());
      });

      for (const form of ['header', 'query'] as const) {
        it(`the sigv4() verifier accepts the suite's ${form}-signed request`, async () => {
          const signed = parseRequest(read(name, `${form}-signed-request.txt`));
          const key: VerificationKey = {
            keyId: context.credentials.access_key_id,
            secret: new Uint8Array(32),
            algorithm: 'sha256',
          };
          const scheme = sigv4({
            services: [context.service],
            secretOf: () => context.credentials.secret_access_key,
          });
          const message = asMessage(signed);
          expect(scheme.detect(message)).toBe(true);
          expect(claimedKeyId(scheme, message)).toBe('AKIDEXAMPLE');
          const body = new TextEncoder().encode(signed.body);
          // The default (WebCrypto + pure-TS SHA-2) provider: no crypto option.
          const check = await checkWith(scheme, message, {
            keys: (id) => (id === key.keyId ? key : undefined),
            now: () => Date.parse(context.timestamp) / 1000 + 10,
            hasBody: body.length > 0,
          });
          expect(check.result).toMatchObject({ scheme: 'sigv4', keyId: 'AKIDEXAMPLE' });
          if (check.body) {
            check.body.update(body);
            await check.body.finish();
          }
        });
      }
    });
  }
});
