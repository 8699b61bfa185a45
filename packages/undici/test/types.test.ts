import { formatSecret, type SigningClientOptions } from '@hmac-kit/core';
import { type HmacKitUndiciOptions, hmacKitInterceptor, withHmacKit } from '@hmac-kit/undici';
import { Agent, type Dispatcher } from 'undici';
import { describe, expectTypeOf, it } from 'vitest';

const key = { keyId: 'hk_1', secret: formatSecret(new Uint8Array(32).fill(7)) };

// Type tests (issue #16): the public factories' options (the core's SigningClientOptions plus body
// buffering) and what they return.

describe('@hmac-kit/undici types', () => {
  it('options: SigningClientOptions plus streamingBodies and maxBufferedBodyBytes', () => {
    expectTypeOf<HmacKitUndiciOptions>().toMatchTypeOf<SigningClientOptions>();
    expectTypeOf<HmacKitUndiciOptions['streamingBodies']>().toEqualTypeOf<'buffer' | 'reject' | undefined>();
    expectTypeOf<HmacKitUndiciOptions['maxBufferedBodyBytes']>().toEqualTypeOf<number | undefined>();
    expectTypeOf(hmacKitInterceptor).parameter(0).toEqualTypeOf<HmacKitUndiciOptions>();
    // @ts-expect-error streamingBodies is 'buffer' or 'reject'
    expectTypeOf(hmacKitInterceptor).toBeCallableWith({ keyId: 'hk_1', secret: 'hks_x', streamingBodies: 'stream' });
  });

  it('an undici compose interceptor; withHmacKit composes it onto a dispatcher', () => {
    expectTypeOf(hmacKitInterceptor(key)).toEqualTypeOf<Dispatcher.DispatcherComposeInterceptor>();
    expectTypeOf(withHmacKit(new Agent(), key)).toEqualTypeOf<Dispatcher.ComposedDispatcher>();
  });
});
