/**
 * The core's RFC 9421 profile vectors (packages/core/test/vectors/rfc9421.json, format in its
 * README), turned into signing jobs for each client and the outputs every client must produce.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rfc9421, type SigningClientOptions, signatureBase, signMessage, xApi } from '@hmac-kit/core';
import type { ProfileVector, VectorBody } from '../rfc9421-profile-vector.js';

export type { ProfileVector };

const VECTORS = new URL('../../packages/core/test/vectors/rfc9421.json', import.meta.url);

/** A signing job in the JSON shape the Python and Ruby `json` commands read. */
export interface SignJob {
  op?: 'sign' | 'components' | 'x-api';
  method: string;
  url: string;
  headers?: Record<string, string | string[]>;
  key_id?: string;
  secret?: string;
  secret_b64?: string;
  body?: string;
  body_b64?: string;
  algorithm?: string;
  digest_algorithm?: string;
  covered_headers?: string[];
  created?: number;
  nonce?: string;
  expires_in?: number;
  tag?: string;
  components?: string[];
  params?: [string, string | number][];
  label?: string;
  timestamp?: number;
}

export type SignResult = { url: string; headers: Record<string, string>; signature_base: string } | { error: string };

/** The body bytes a vector describes. */
export function vectorBody(body: VectorBody): Uint8Array | null {
  if (body === null) return null;
  if ('utf8' in body) return new TextEncoder().encode(body.utf8);
  if ('base64' in body) return new Uint8Array(Buffer.from(body.base64, 'base64'));
  const pattern = new TextEncoder().encode(body.repeat);
  const out = new Uint8Array(body.length);
  for (let i = 0; i < out.length; i++) out[i] = pattern[i % pattern.length]!;
  return out;
}

/**
 * The options a Node signing client (`@hmac-kit/axios`, `@hmac-kit/undici`) takes to sign as the
 * vector did: its key, covered headers, digest, expiry, tag, and its fixed clock and nonce.
 */
export function vectorSigningOptions(vector: ProfileVector): SigningClientOptions {
  return {
    keyId: vector.key.keyId,
    secret: vector.key.secret,
    algorithm: vector.key.algorithm,
    coveredHeaders: vector.coveredHeaders,
    scheme: rfc9421({ digestAlgorithm: vector.digestAlgorithm }),
    expiresInSeconds: vector.expiresInSeconds,
    tag: vector.tag,
    now: () => vector.created,
    nonce: () => vector.nonce,
  };
}

export function loadProfileVectors(): ProfileVector[] {
  const file = JSON.parse(readFileSync(VECTORS, 'utf8')) as { format: number; vectors: ProfileVector[] };
  if (file.format !== 1) throw new Error(`unsupported vector format ${file.format}`);
  return file.vectors;
}

/** Jobs for every vector and the result each must give (the URL a WHATWG parser serializes). */
export async function coreVectorJobs(): Promise<{ vectors: ProfileVector[]; jobs: SignJob[]; expected: SignResult[] }> {
  const vectors = loadProfileVectors();
  const jobs = vectors.map((v): SignJob => {
    const body = vectorBody(v.request.body);
    return {
      op: 'sign',
      method: v.request.method,
      url: v.request.url,
      headers: v.request.headers,
      key_id: v.key.keyId,
      secret: v.key.secret,
      algorithm: v.key.algorithm,
      digest_algorithm: v.digestAlgorithm,
      covered_headers: v.coveredHeaders,
      created: v.created,
      nonce: v.nonce,
      ...(v.expiresInSeconds === undefined ? {} : { expires_in: v.expiresInSeconds }),
      ...(v.tag === undefined ? {} : { tag: v.tag }),
      ...(body === null ? {} : { body_b64: Buffer.from(body).toString('base64') }),
    };
  });
  const expected = vectors.map(
    (v): SignResult => ({
      url: new URL(v.request.url).href,
      headers: v.expected.headers,
      signature_base: v.expected.signatureBase,
    }),
  );
  return { vectors, jobs, expected };
}

/** Arguments and environment for hmac-kit-sign.sh that reproduce a profile job (body written under `dir`). */
export function bashArgsFor(job: SignJob, dir: string, index: number): { args: string[]; env: Record<string, string> } {
  const args = [job.method, job.url];
  for (const [name, value] of Object.entries(job.headers ?? {})) {
    for (const line of Array.isArray(value) ? value : [value]) args.push('-H', `${name}: ${line}`);
  }
  for (const name of job.covered_headers ?? []) args.push('--cover', name);
  if (job.body_b64 !== undefined) {
    const file = join(dir, `vector-${index}.body`);
    writeFileSync(file, Buffer.from(job.body_b64, 'base64'));
    args.push('--data-file', file);
  }
  if (job.algorithm) args.push('--algorithm', job.algorithm);
  if (job.digest_algorithm) args.push('--digest', job.digest_algorithm);
  if (job.expires_in !== undefined) args.push('--expires-in', String(job.expires_in));
  if (job.tag !== undefined) args.push('--tag', job.tag);
  return {
    args,
    env: {
      HMAC_KIT_KEY_ID: job.key_id!,
      HMAC_KIT_SECRET: job.secret!,
      HMAC_KIT_CREATED: String(job.created),
      HMAC_KIT_NONCE: job.nonce!,
    },
  };
}

/** Pre-request script input (request + variables) for a profile job, or why it cannot be expressed in Postman. */
export function postmanInputFor(job: SignJob):
  | {
      method: string;
      url: string;
      headers: [string, string][];
      body?: string;
      variables: Record<string, string>;
    }
  | string {
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries(job.headers ?? {})) {
    // A repeated field is one Postman header row per line.
    for (const line of Array.isArray(value) ? value : [value]) headers.push([name, line]);
  }
  let body: string | undefined;
  if (job.body_b64 !== undefined) {
    try {
      body = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(job.body_b64, 'base64'));
    } catch {
      return 'Postman raw bodies are text; this body is binary';
    }
  }
  const variables: Record<string, string> = {
    hmacKitKeyId: job.key_id!,
    hmacKitSecret: job.secret!,
    hmacKitCreated: String(job.created),
    hmacKitNonce: job.nonce!,
    hmacKitAlgorithm: job.algorithm ?? 'sha256',
    hmacKitDigestAlgorithm: job.digest_algorithm ?? 'sha-256',
  };
  if (job.covered_headers?.length) variables['hmacKitCoverHeaders'] = job.covered_headers.join(',');
  if (job.expires_in !== undefined) variables['hmacKitExpiresIn'] = String(job.expires_in);
  if (job.tag !== undefined) variables['hmacKitTag'] = job.tag;
  return { method: job.method, url: job.url, headers, ...(body === undefined ? {} : { body }), variables };
}

/**
 * X-API-* jobs built from the client cases, and the headers the core's `xApi()` signer gives for
 * them with the same timestamp and nonce: the clients must produce exactly these.
 */
export async function xApiJobs(
  cases: { method: string; pathAndQuery: string; body?: Uint8Array }[],
): Promise<{ jobs: SignJob[]; expected: Record<string, string>[] }> {
  const scheme = xApi();
  const jobs: SignJob[] = [];
  const expected: Record<string, string>[] = [];
  for (const [i, c] of cases.entries()) {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const secret = `hks_${Buffer.alloc(32, i + 1).toString('base64url')}`;
      const url = new URL(c.pathAndQuery, 'https://api.example.com').href;
      const nonce = `nonce-${i}-${algorithm}-0123456789`;
      const signed = await scheme.sign(
        { method: c.method, url, headers: {}, body: c.body ?? null },
        { keyId: `hk_xapi_${i}`, secret, algorithm },
        { nonce, now: () => 1767225600 + i },
      );
      jobs.push({
        op: 'x-api',
        method: c.method,
        url: `https://api.example.com${c.pathAndQuery}`,
        key_id: `hk_xapi_${i}`,
        secret,
        algorithm,
        timestamp: 1767225600 + i,
        nonce,
        ...(c.body ? { body_b64: Buffer.from(c.body).toString('base64') } : {}),
      });
      expected.push(signed.headers);
    }
  }
  return { jobs, expected };
}

/** URLs as users type them: unicode, spaces, dot segments, reserved and repeated query characters, odd ports. */
export const TRICKY_URLS: string[] = [
  'https://API.Example.com:443/Straße/café/東京/🚀?name=Zoë&city=東京',
  'http://localhost:8080/a/./b/../c/%7Efoo/a%2Fb?x=1&x=2&x=1',
  'https://api.example.com/search?q=a b&quote=\'&lt=<&gt=>&dq="&bt=`&pipe=|&caret=^&br={}',
  'https://api.example.com/p;matrix=1/a:b@c!$&()*+,=?to=https://x.example/cb?y=1&enc=%2F%3F%23&plus=a+b&empty=&flag',
  'http://127.0.0.1:9/trailing/slash/?',
  'https://api.example.com',
  'https://api.example.com/sp ace/tab%09/pct%zz/%41%62?%41=%62',
];

/**
 * Jobs signing {@link TRICKY_URLS} (GET, and POST with a unicode body) with fixed time and nonce, and
 * what the core's own signer gives for the same request addressed to `new URL(url)`.
 */
export async function trickyUrlJobs(): Promise<{ jobs: SignJob[]; expected: SignResult[] }> {
  const jobs: SignJob[] = [];
  const expected: SignResult[] = [];
  const secret = `hks_${Buffer.alloc(32, 42).toString('base64url')}`;
  for (const [i, url] of TRICKY_URLS.entries()) {
    for (const method of ['GET', 'POST']) {
      const body = method === 'POST' ? '{"name":"Zoë","city":"東京"}' : undefined;
      const nonce = `tricky-${i}-${method}`;
      const normalized = new URL(url).href;
      const signed = await signMessage(
        { method, url: normalized, headers: {}, body: body ?? null },
        { keyId: 'hk_tricky', secret },
        { nonce, now: () => 1767225600 },
      );
      const base = signatureBase(
        { method, url: normalized, headers: { 'content-digest': signed.headers['Content-Digest'] ?? '' } },
        signed.headers['Signature-Input']!,
      );
      jobs.push({
        op: 'sign',
        method,
        url,
        key_id: 'hk_tricky',
        secret,
        created: 1767225600,
        nonce,
        ...(body === undefined ? {} : { body_b64: Buffer.from(body).toString('base64') }),
      });
      expected.push({ url: normalized, headers: signed.headers, signature_base: base });
    }
  }
  return { jobs, expected };
}

const X_API_VECTORS = new URL('../../packages/core/test/vectors/x-api.json', import.meta.url);

/** The core's X-API-* known-answer vectors (packages/core/test/vectors/x-api.json) as client jobs. */
export function xApiVectorJobs(): { jobs: SignJob[]; expected: { stringToSign: string; signature: string }[] } {
  const file = JSON.parse(readFileSync(X_API_VECTORS, 'utf8')) as {
    keyId: string;
    secret: string;
    vectors: {
      method: string;
      path: string;
      query: string;
      body: string;
      algorithm: string;
      timestamp: string;
      nonce: string;
      stringToSign: string;
      signature: string;
    }[];
  };
  return {
    jobs: file.vectors.map((v) => ({
      op: 'x-api',
      method: v.method,
      url: `https://api.example.com${v.path}${v.query ? `?${v.query}` : ''}`,
      key_id: file.keyId,
      secret: file.secret,
      algorithm: v.algorithm,
      timestamp: Number(v.timestamp),
      nonce: v.nonce,
      ...(v.body ? { body_b64: Buffer.from(v.body, 'utf8').toString('base64') } : {}),
    })),
    expected: file.vectors.map((v) => ({ stringToSign: v.stringToSign, signature: v.signature })),
  };
}
