// The header phase of one scheme through the public pipeline (checkSignature with that scheme
// only): what tests written against a scheme's own verify() call now go through.
import { checkSignature, type Scheme, type SignatureCheck, type VerifyOptions } from '@hmac-kit/core';

export function checkWith(
  scheme: Scheme,
  message: Parameters<typeof checkSignature>[0],
  options: VerifyOptions & { hasBody: boolean },
): Promise<SignatureCheck> {
  return checkSignature(message, { ...options, schemes: [scheme] });
}

/** The key id a request claims, as the pipeline's parse stage reads it. */
export function claimedKeyId(scheme: Scheme, message: Parameters<typeof checkSignature>[0]): string {
  return scheme.parse(message, { hasBody: true }).keyId;
}
