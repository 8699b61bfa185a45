/**
 * The shape of one RFC 9421 profile vector (packages/core/test/vectors/rfc9421.json, format 1 in
 * that folder's README): written by the generator, read by the core's known-answer tests and by
 * the client conformance jobs. Types only: the generator stays free of hmac-kit at run time.
 */

/** A vector body: none, UTF-8 text, base64 bytes, or `repeat` repeated to `length` bytes. */
export type VectorBody = null | { utf8: string } | { base64: string } | { repeat: string; length: number };

/** One profile vector: the key, the signing inputs, the request and what signing it must give. */
export interface ProfileVector {
  name: string;
  description: string;
  key: { keyId: string; secret: string; algorithm: 'sha256' | 'sha384' | 'sha512' };
  created: number;
  nonce: string;
  expiresInSeconds?: number;
  tag?: string;
  digestAlgorithm: 'sha-256' | 'sha-512';
  coveredHeaders: string[];
  request: { method: string; url: string; headers: Record<string, string | string[]>; body: VectorBody };
  expected: { coveredComponents: string[]; signatureBase: string; headers: Record<string, string> };
}
