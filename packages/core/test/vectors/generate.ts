/**
 * Generates packages/core/test/vectors/rfc9421.json: known-answer vectors for
 * hmac-kit's RFC 9421 profile (format documented in README.md next to this file).
 *
 * Deliberately independent of packages/core: hashes and HMACs come from
 * node:crypto, and the signature base is assembled here by plain string handling
 * straight from docs/protocol.md, so the core's signer is checked against a second
 * implementation rather than against itself.
 *
 * Run: npx tsx packages/core/test/vectors/generate.ts
 */
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProfileVector, VectorBody } from '../../../../test-support/rfc9421-profile-vector.js';

type Algorithm = 'sha256' | 'sha384' | 'sha512';
type Body = VectorBody;

interface VectorInput {
  name: string;
  description: string;
  keyId: string;
  algorithm: Algorithm;
  created: number;
  nonce: string;
  expiresInSeconds?: number;
  tag?: string;
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  body: Body;
  coveredHeaders: string[];
  digestAlgorithm: 'sha-256' | 'sha-512';
}

/** Deterministic 32-byte secret per vector, so the file is reproducible. */
function secretFor(name: string): Buffer {
  return createHash('sha256').update(`hmac-kit test vector secret: ${name}`).digest();
}

export function bodyBytes(body: Body): Buffer | null {
  if (body === null) return null;
  if ('utf8' in body) return Buffer.from(body.utf8, 'utf8');
  if ('base64' in body) return Buffer.from(body.base64, 'base64');
  const pattern = Buffer.from(body.repeat, 'utf8');
  const out = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i++) out[i] = pattern[i % pattern.length]!;
  return out;
}

/** Splits an absolute http(s) URL the way docs/protocol.md describes @authority, @path and @query. */
function splitUrl(url: string): { authority: string; path: string; query: string } {
  const match = /^(https?):\/\/([^/?#]+)([^?#]*)(?:\?([^#]*))?$/.exec(url);
  if (!match) throw new Error(`unsupported URL ${url}`);
  const scheme = match[1]!.toLowerCase();
  let authority = match[2]!.toLowerCase();
  if ((scheme === 'https' && authority.endsWith(':443')) || (scheme === 'http' && authority.endsWith(':80'))) {
    authority = authority.slice(0, authority.lastIndexOf(':'));
  }
  return { authority, path: match[3] || '/', query: `?${match[4] ?? ''}` };
}

function canonicalField(value: string | string[]): string {
  return (Array.isArray(value) ? value : [value])
    .map((line) => line.replace(/[ \t]*\r?\n[ \t]+/g, ' ').trim())
    .join(', ');
}

export type Vector = ProfileVector;

function build(input: VectorInput): Vector {
  const secret = secretFor(input.name);
  const body = bodyBytes(input.body);
  const hasBody = (body !== null && body.length > 0) || ['POST', 'PUT', 'PATCH'].includes(input.method);
  const url = splitUrl(input.url);
  const components = [
    '@method',
    '@authority',
    '@path',
    '@query',
    ...(hasBody ? ['content-digest'] : []),
    ...input.coveredHeaders,
  ];
  const fields: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(input.headers)) fields[name.toLowerCase()] = value;
  const headers: Record<string, string> = {};
  if (hasBody) {
    const hash = input.digestAlgorithm === 'sha-256' ? 'sha256' : 'sha512';
    headers['Content-Digest'] = `${input.digestAlgorithm}=:${createHash(hash)
      .update(body ?? Buffer.alloc(0))
      .digest('base64')}:`;
    fields['content-digest'] = headers['Content-Digest'];
  }
  const lines = components.map((component) => {
    switch (component) {
      case '@method':
        return `"@method": ${input.method}`;
      case '@authority':
        return `"@authority": ${url.authority}`;
      case '@path':
        return `"@path": ${url.path}`;
      case '@query':
        return `"@query": ${url.query}`;
      default: {
        const value = fields[component];
        if (value === undefined) throw new Error(`${input.name}: header ${component} missing`);
        return `"${component}": ${canonicalField(value)}`;
      }
    }
  });
  let params = `(${components.map((c) => `"${c}"`).join(' ')});created=${input.created}`;
  if (input.expiresInSeconds !== undefined) params += `;expires=${input.created + input.expiresInSeconds}`;
  params += `;nonce="${input.nonce}";keyid="${input.keyId}";alg="hmac-${input.algorithm}"`;
  if (input.tag !== undefined) params += `;tag="${input.tag}"`;
  const signatureBase = [...lines, `"@signature-params": ${params}`].join('\n');
  const signature = createHmac(input.algorithm, secret).update(Buffer.from(signatureBase, 'latin1')).digest('base64');
  headers['Signature-Input'] = `sig=${params}`;
  headers['Signature'] = `sig=:${signature}:`;
  return {
    name: input.name,
    description: input.description,
    key: { keyId: input.keyId, secret: `hks_${secret.toString('base64url')}`, algorithm: input.algorithm },
    created: input.created,
    nonce: input.nonce,
    ...(input.expiresInSeconds !== undefined ? { expiresInSeconds: input.expiresInSeconds } : {}),
    ...(input.tag !== undefined ? { tag: input.tag } : {}),
    digestAlgorithm: input.digestAlgorithm,
    coveredHeaders: input.coveredHeaders,
    request: { method: input.method, url: input.url, headers: input.headers, body: input.body },
    expected: { coveredComponents: components, signatureBase, headers },
  };
}

const CREATED = 1_767_225_600; // 2026-01-01T00:00:00Z

const INPUTS: VectorInput[] = [
  {
    name: 'get-with-query',
    description: 'GET with a query string and no body: no Content-Digest is added.',
    keyId: 'hk_test_get',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtZ2V0LTAwMQ',
    method: 'GET',
    url: 'https://api.example.com/v1/items?limit=10&offset=20',
    headers: { accept: 'application/json' },
    body: null,
    coveredHeaders: [],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'post-json',
    description: 'POST with a JSON body; Content-Type covered as an extra header.',
    keyId: 'hk_test_post',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtcG9zdC0wMDI',
    method: 'POST',
    url: 'https://api.example.com/v1/orders',
    headers: { 'Content-Type': 'application/json' },
    body: { utf8: '{"item":"widget","quantity":3}' },
    coveredHeaders: ['content-type'],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'post-empty-body',
    description: 'POST without a body: the empty body is still covered (Content-Digest of zero bytes); @query is "?".',
    keyId: 'hk_test_empty',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtZW1wdHktMDM',
    method: 'POST',
    url: 'https://api.example.com/v1/jobs/42/cancel',
    headers: {},
    body: null,
    coveredHeaders: [],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'unicode-path-and-body',
    description:
      'Non-ASCII path segments are sent percent-encoded as UTF-8 (as WHATWG URL does); the UTF-8 body is hashed as bytes.',
    keyId: 'hk_test_unicode',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtdW5pY29kZS0w',
    method: 'PUT',
    url: 'https://api.example.com/v1/caf%C3%A9/%E2%9C%93/%F0%9F%9A%80',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: { utf8: '{"name":"Zoë Ångström","city":"東京","emoji":"🚀"}' },
    coveredHeaders: ['content-type'],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'repeated-query-keys',
    description: 'Repeated query keys are signed as the whole query string, in the order sent.',
    keyId: 'hk_test_repeat',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtcmVwZWF0LTA1',
    method: 'GET',
    url: 'https://api.example.com/v1/search?tag=b&tag=a&tag=b&page=2',
    headers: {},
    body: null,
    coveredHeaders: [],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'reserved-characters-in-query',
    description:
      'Reserved and percent-encoded characters in the query are signed exactly as sent (no decoding, no re-encoding).',
    keyId: 'hk_test_reserved',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtcmVzZXJ2ZWQw',
    method: 'GET',
    url: 'https://api.example.com/v1/redirect?to=https://app.example.com/cb?x=1&sym=!$()*,;:@/?&enc=%2F%3F%23%26%3D%25&plus=a+b&sp=a%20b&empty=&flag',
    headers: {},
    body: null,
    coveredHeaders: [],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'large-body-sha512',
    description:
      'A 256 KiB body given by a generator rule (pattern repeated to length), a sha512 key and a sha-512 Content-Digest.',
    keyId: 'hk_test_large',
    algorithm: 'sha512',
    created: CREATED,
    nonce: 'bm9uY2UtbGFyZ2UtMDA3',
    method: 'PUT',
    url: 'https://uploads.example.com/v1/blobs/abc',
    headers: { 'content-type': 'application/octet-stream' },
    body: { repeat: 'hmac-kit 0123456789 ', length: 262_144 },
    coveredHeaders: ['content-type'],
    digestAlgorithm: 'sha-512',
  },
  {
    name: 'sha384-expires-tag',
    description: 'A sha384 key (hmac-sha384, an hmac-kit extension) with expires and tag parameters.',
    keyId: 'hk_test_384',
    algorithm: 'sha384',
    created: CREATED,
    nonce: 'bm9uY2UtMzg0LTAwOA',
    expiresInSeconds: 60,
    tag: 'billing-api',
    method: 'PATCH',
    url: 'https://api.example.com/v1/accounts/7?dry_run=true',
    headers: { 'content-type': 'application/merge-patch+json' },
    body: { utf8: '{"plan":"pro"}' },
    coveredHeaders: ['content-type'],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'authority-normalisation',
    description: '@authority is lowercased and the default port (443 for https) is dropped; non-default ports stay.',
    keyId: 'hk_test_authority',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtYXV0aC0wMDk',
    method: 'DELETE',
    url: 'https://API.Example.COM:443/v1/sessions/current',
    headers: {},
    body: null,
    coveredHeaders: [],
    digestAlgorithm: 'sha-256',
  },
  {
    name: 'non-default-port-and-header-canonicalisation',
    description:
      'A non-default port stays in @authority; covered header values are trimmed and multiple values joined with ", ".',
    keyId: 'hk_test_headers',
    algorithm: 'sha256',
    created: CREATED,
    nonce: 'bm9uY2UtaGVhZGVyLTEw',
    method: 'GET',
    url: 'http://localhost:8080/v1/health',
    headers: { 'X-Request-Id': '  req-123  ', 'X-Forwarded-For': ['203.0.113.7', ' 198.51.100.2'] },
    body: null,
    coveredHeaders: ['x-request-id', 'x-forwarded-for'],
    digestAlgorithm: 'sha-256',
  },
];

export function generateVectors(): { description: string; format: number; vectors: Vector[] } {
  return {
    description:
      'hmac-kit RFC 9421 profile known-answer vectors. Format: packages/core/test/vectors/README.md. Generated by generate.ts (node:crypto, independent of the core).',
    format: 1,
    vectors: INPUTS.map(build),
  };
}

export const VECTORS_FILE = fileURLToPath(new URL('./rfc9421.json', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(VECTORS_FILE, `${JSON.stringify(generateVectors(), null, 2)}\n`);
  console.log(`wrote ${VECTORS_FILE}`);
}
