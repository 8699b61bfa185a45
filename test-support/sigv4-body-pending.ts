/**
 * The SigV4 request the prepared-key lifetime tests share: a POST whose signing key is used only
 * once its body has been read. aws4 signs without `x-amz-content-sha256` for a non-S3 service, so
 * the verifier hashes the body itself and MACs after it: a request in flight holds its derived
 * signing key while the body arrives, which is the window forgetting or evicting that key must not
 * break (core's forget/eviction tests, keys' revocation test).
 */
import type { MessageParts } from '@hmac-kit/core';
import aws4 from 'aws4';
import { expect } from 'vitest';

/** The body of {@link sigV4BodyPendingMessage}'s request. */
export const BODY_PENDING_BODY = 'amount=100';

/**
 * `POST https://api.example.com/v1/payments` with {@link BODY_PENDING_BODY}, signed by aws4 for
 * `accessKeyId`/`secretAccessKey` (service `hmac-kit`, region `eu-west-1`), without
 * `x-amz-content-sha256` (asserted).
 *
 * @example
 * const check = await checkSignature(sigV4BodyPendingMessage(key.keyId, formatSecret(raw)), { ...options, hasBody: true });
 */
export function sigV4BodyPendingMessage(accessKeyId: string, secretAccessKey: string): MessageParts {
  const signed = aws4.sign(
    {
      host: 'api.example.com',
      path: '/v1/payments',
      method: 'POST',
      service: 'hmac-kit',
      region: 'eu-west-1',
      body: BODY_PENDING_BODY,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    },
    { accessKeyId, secretAccessKey },
  );
  const headers = signed.headers as Record<string, string>;
  expect(Object.keys(headers).map((name) => name.toLowerCase())).not.toContain('x-amz-content-sha256');
  return { method: 'POST', url: 'https://api.example.com/v1/payments', headers };
}
