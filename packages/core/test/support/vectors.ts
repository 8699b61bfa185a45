/** Loading of the published and the generated known-answer vectors, shared by the Node and browser suites. */

import type { MessageParts } from '@hmac-kit/core';
import type { ProfileVector, VectorBody } from '../../../../test-support/rfc9421-profile-vector.js';
import { fromBase64, utf8 } from '../../src/primitives/encoding.js';

export interface B25Vector {
  secret: Uint8Array;
  keyId: string;
  message: MessageParts;
  body: Uint8Array;
  signatureBase: string;
  signatureInput: string;
  signature: string;
  label: string;
  created: number;
  coveredComponents: string[];
}

/** Parses test-support/vectors/rfc9421-b25.txt (RFC 9421 Appendix B.2.5). */
export function parseB25(text: string): B25Vector {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const secretLine = lines.findIndex((line) => line.trim().endsWith('base64:'));
  const secret = fromBase64(lines[secretLine + 1]!.trim(), { strict: true });
  if (!secret) throw new Error('B.2.5: secret is not base64');
  const keyId = /key id "([^"]+)"/.exec(text)?.[1];
  if (!keyId) throw new Error('B.2.5: no key id');

  const requestLine = lines.findIndex((line) => /^[A-Z]+ \S+ HTTP\/1\.1$/.test(line));
  const [method, target] = lines[requestLine]!.split(' ') as [string, string];
  const headers: Record<string, string> = {};
  let i = requestLine + 1;
  for (; lines[i] !== ''; i++) {
    const colon = lines[i]!.indexOf(':');
    headers[lines[i]!.slice(0, colon).toLowerCase()] = lines[i]!.slice(colon + 1).trim();
  }
  const body = utf8(lines[i + 1]!);
  const begin = lines.indexOf('-----BEGIN BASE-----');
  const end = lines.indexOf('-----END BASE-----');
  const signatureBase = lines.slice(begin + 1, end).join('\n');
  const signatureInputLine = lines.find((line) => line.startsWith('Signature-Input:'))!;
  const signatureLine = lines.find((line) => line.startsWith('Signature:'))!;
  const signatureInput = signatureInputLine.slice('Signature-Input:'.length).trim();
  const signature = signatureLine.slice('Signature:'.length).trim();
  const label = signatureInput.slice(0, signatureInput.indexOf('='));
  const created = Number(/;created=(\d+)/.exec(signatureInput)![1]);
  const coveredComponents = [
    ...signatureInput.slice(signatureInput.indexOf('(') + 1, signatureInput.indexOf(')')).matchAll(/"([^"]+)"/g),
  ].map((m) => m[1]!);
  return {
    secret,
    keyId,
    message: { method, url: `https://${headers['host']}${target}`, headers },
    body,
    signatureBase,
    signatureInput,
    signature,
    label,
    created,
    coveredComponents,
  };
}

export type { VectorBody } from '../../../../test-support/rfc9421-profile-vector.js';
/** One RFC 9421 profile vector (format in test/vectors/README.md). */
export type KnownAnswerVector = ProfileVector;

/** Materialises a vector body (README.md: utf8, base64 or the repeat generator rule). */
export function vectorBody(body: VectorBody): Uint8Array | null {
  if (body === null) return null;
  if ('utf8' in body) return utf8(body.utf8);
  if ('base64' in body) return fromBase64(body.base64, { strict: true })!;
  const pattern = utf8(body.repeat);
  const out = new Uint8Array(body.length);
  for (let i = 0; i < body.length; i++) out[i] = pattern[i % pattern.length]!;
  return out;
}
