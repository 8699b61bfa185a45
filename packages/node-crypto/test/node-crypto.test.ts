import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { expect, it } from 'vitest';
import { cryptoProviderConformance } from '../../core/test/support/crypto-conformance.js';

cryptoProviderConformance('nodeCryptoProvider', nodeCryptoProvider);

it('answers hmac synchronously (no promise), which is why servers inject it', () => {
  const out = nodeCryptoProvider.hmac('sha256', new Uint8Array([1]), new Uint8Array([2]));
  expect(out).toBeInstanceOf(Uint8Array);
  expect(out).not.toBeInstanceOf(Promise);
});
