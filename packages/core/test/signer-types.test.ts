import {
  createSignedFetch,
  type MessageParts,
  type Scheme,
  type SignedFetchOptions,
  type SigningClient,
  type SigningClientOptions,
  type SigningKey,
  type SignOptions,
  signingClient,
  signMessage,
  signRequest,
  type VerifiedRequest,
  verifyRequest,
} from '@hmac-kit/core';
import { describe, expectTypeOf, it } from 'vitest';

// Type tests (issue #16): the core signers' options and results, and the identity verification yields.

describe('@hmac-kit/core signer types', () => {
  it('signMessage / signRequest: a message or a Request, a SigningKey, SignOptions', () => {
    expectTypeOf(signMessage).parameter(0).toMatchTypeOf<MessageParts>();
    expectTypeOf(signMessage).parameter(1).toEqualTypeOf<SigningKey>();
    expectTypeOf(signMessage).returns.resolves.toEqualTypeOf<{ headers: Record<string, string>; url: string }>();
    expectTypeOf(signRequest).parameters.toEqualTypeOf<[Request, SigningKey, SignOptions?]>();
    expectTypeOf(signRequest).returns.toEqualTypeOf<Promise<Request>>();
    expectTypeOf<SigningKey['secret']>().toEqualTypeOf<string | Uint8Array>();
    expectTypeOf<SignOptions['scheme']>().toEqualTypeOf<Scheme | undefined>();
    expectTypeOf<SignOptions['nonce']>().toEqualTypeOf<string | false | undefined>();
    // @ts-expect-error a key needs its secret
    expectTypeOf(signRequest).toBeCallableWith(new Request('https://a.example'), { keyId: 'k' });
  });

  it('createSignedFetch(options) is a fetch; signingClient() checks the clients options once', () => {
    expectTypeOf(createSignedFetch).parameter(0).toEqualTypeOf<SignedFetchOptions>();
    expectTypeOf(createSignedFetch).returns.toEqualTypeOf<typeof fetch>();
    expectTypeOf<SignedFetchOptions['fetch']>().toEqualTypeOf<typeof fetch | undefined>();
    expectTypeOf(signingClient).parameters.toEqualTypeOf<[SigningClientOptions, string]>();
    expectTypeOf(signingClient).returns.toEqualTypeOf<SigningClient>();
    expectTypeOf<SigningClient['nonce']>().returns.toEqualTypeOf<string | false | undefined>();
  });

  it('the identity verification adds: VerifiedRequest', () => {
    expectTypeOf(verifyRequest).returns.resolves.toEqualTypeOf<VerifiedRequest>();
    expectTypeOf<VerifiedRequest['keyId']>().toEqualTypeOf<string>();
    expectTypeOf<VerifiedRequest['scheme']>().toEqualTypeOf<string>();
  });
});
