/** Keys and small helpers shared by the core tests. */
import type { HashAlgorithm, KeyResolver, VerificationKey } from '@hmac-kit/core';
import { formatSecret } from '@hmac-kit/core';

export const NOW = 1_767_225_600;

export function rawSecret(seed: number, length = 32): Uint8Array {
  return new Uint8Array(length).map((_, i) => (seed * 31 + i * 7 + 1) & 0xff);
}

export function makeKey(
  keyId: string,
  algorithm: HashAlgorithm = 'sha256',
  seed = 1,
): VerificationKey & { printable: string } {
  const secret = rawSecret(seed);
  return { keyId, secret, algorithm, printable: formatSecret(secret) };
}

export function resolverOf(...keys: VerificationKey[]): KeyResolver {
  const byId = new Map(keys.map((k) => [k.keyId, k]));
  return (keyId) => byId.get(keyId);
}
