/** Signed requests of every built-in scheme, and a nonce store on the test clock, for the adversarial suites. */
import {
  djangoHmac,
  type HashAlgorithm,
  type MessageParts,
  type NonceStore,
  rfc9421,
  type Scheme,
  sigv4,
  standardWebhooks,
  type VerificationKey,
  xApi,
} from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { makeKey, NOW } from '../support/fixtures.js';

export { NOW };
export const crypto = nodeCryptoProvider;
export const key: VerificationKey & { printable: string } = makeKey('hk_adversarial');

/** Every built-in scheme, with what of a request it covers (beyond its own credential headers). */
export interface SchemeCase {
  name: string;
  scheme: () => Scheme;
  /** Whether the signature covers method, path, query and authority (django-hmac covers none of them). */
  coversTarget: boolean;
  coversAuthority: boolean;
  /** Headers (besides the scheme's own credentials) whose every byte the signature covers. */
  coveredHeaders: readonly string[];
  /** Algorithm the scheme always uses (keys of another one must not verify), if fixed. */
  fixedAlgorithm?: HashAlgorithm;
}

export const SCHEMES: readonly SchemeCase[] = [
  {
    name: 'rfc9421',
    scheme: () => rfc9421(),
    coversTarget: true,
    coversAuthority: true,
    coveredHeaders: ['content-digest', 'signature-input'],
  },
  {
    name: 'sigv4',
    scheme: () => sigv4(),
    coversTarget: true,
    coversAuthority: true,
    coveredHeaders: ['x-amz-date', 'x-amz-content-sha256', 'content-type'],
    fixedAlgorithm: 'sha256',
  },
  {
    name: 'x-api',
    scheme: () => xApi(),
    coversTarget: true,
    coversAuthority: false,
    coveredHeaders: ['X-API-Timestamp', 'X-API-Nonce', 'X-API-Key'],
  },
  { name: 'django-hmac', scheme: () => djangoHmac(), coversTarget: false, coversAuthority: false, coveredHeaders: [] },
  {
    name: 'standard-webhooks',
    scheme: () => standardWebhooks(),
    coversTarget: false,
    coversAuthority: false,
    coveredHeaders: ['webhook-id', 'webhook-timestamp', 'webhook-key-id'],
    fixedAlgorithm: 'sha256',
  },
];

export const URL_SIGNED = 'https://api.example.com/v1/orders?b=2&a=1';
export const BODY = '{"amount":5,"to":"acct_7","memo":"rent"}';

export interface Signed {
  message: MessageParts & { headers: Record<string, string> };
  body: Uint8Array;
}

/** A POST signed by `scheme` with `signingKey` at NOW. */
export async function signedPost(
  scheme: Scheme,
  signingKey: VerificationKey & { printable: string } = key,
  body = BODY,
): Promise<Signed> {
  const bytes = new TextEncoder().encode(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', host: 'api.example.com' };
  const out = await scheme.sign(
    { method: 'POST', url: URL_SIGNED, headers, body: bytes },
    { keyId: signingKey.keyId, secret: signingKey.printable, algorithm: signingKey.algorithm },
    { crypto, now: () => NOW },
  );
  return {
    message: { method: 'POST', url: out.url ?? URL_SIGNED, headers: { ...headers, ...out.headers } },
    body: bytes,
  };
}

/** The memory nonce store on the test clock (its epoch, its creation, lies before every signature). */
export function nonceStore(): NonceStore {
  return memoryNonceStore({ now: () => (NOW - 600) * 1000 });
}

/**
 * A different character in the same position, never the same letter in another case (header names
 * and hosts are case-insensitive, hex may be read either way): digits and letters rotate, anything
 * else moves one code point within printable ASCII.
 */
export function otherChar(c: string): string {
  const code = c.charCodeAt(0);
  if (c >= '0' && c <= '8') return String.fromCharCode(code + 1);
  if (c === '9') return '0';
  if ((c >= 'a' && c < 'z') || (c >= 'A' && c < 'Z')) return String.fromCharCode(code + 1);
  if (c === 'z') return 'a';
  if (c === 'Z') return 'A';
  return String.fromCharCode(code === 0x7e ? 0x7d : code + 1);
}

export function replaceAt(text: string, index: number): string {
  return text.slice(0, index) + otherChar(text[index]!) + text.slice(index + 1);
}

/** The header `name` of a record, whatever the case it was written in. */
export function headerName(headers: Record<string, string>, name: string): string | undefined {
  return Object.keys(headers).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
}
