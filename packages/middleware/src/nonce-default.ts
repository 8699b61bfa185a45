import type { NonceStore } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';

/** The store used when none is configured: bounded, in this process only. */
export function createDefaultNonceStore(): NonceStore {
  return memoryNonceStore();
}
