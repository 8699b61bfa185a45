import {
  type HmacKitAxiosInterceptor,
  type HmacKitAxiosOptions,
  hmacKitInterceptor,
  withHmacKit,
} from '@hmac-kit/axios';
import { formatSecret, type SigningClientOptions } from '@hmac-kit/core';
import axios, { type AxiosInstance, type InternalAxiosRequestConfig } from 'axios';
import { describe, expectTypeOf, it } from 'vitest';

const key = { keyId: 'hk_1', secret: formatSecret(new Uint8Array(32).fill(7)) };

// Type tests (issue #16): the public factories' options (the core's SigningClientOptions) and what they return.

describe('@hmac-kit/axios types', () => {
  it('options are the core SigningClientOptions', () => {
    expectTypeOf<HmacKitAxiosOptions>().toEqualTypeOf<SigningClientOptions>();
    expectTypeOf(hmacKitInterceptor).parameter(0).toEqualTypeOf<SigningClientOptions>();
    expectTypeOf<SigningClientOptions['secret']>().toEqualTypeOf<string | Uint8Array>();
    expectTypeOf<SigningClientOptions['nonce']>().toEqualTypeOf<false | (() => string) | undefined>();
    // @ts-expect-error keyId and secret are required
    expectTypeOf(hmacKitInterceptor).toBeCallableWith({ keyId: 'hk_1' });
    // @ts-expect-error algorithm is one of sha256, sha384, sha512
    expectTypeOf(hmacKitInterceptor).toBeCallableWith({ keyId: 'hk_1', secret: 'hks_x', algorithm: 'md5' });
  });

  it('an interceptor of axios request configs; withHmacKit keeps the instance type', () => {
    expectTypeOf(hmacKitInterceptor(key)).toEqualTypeOf<HmacKitAxiosInterceptor>();
    expectTypeOf<HmacKitAxiosInterceptor>().returns.toEqualTypeOf<Promise<InternalAxiosRequestConfig>>();
    const instance = axios.create();
    expectTypeOf(withHmacKit(instance, key)).toEqualTypeOf<AxiosInstance>();
  });
});
