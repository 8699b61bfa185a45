import { type HmacAuthOptions, type HmacIdentity, hmacAuth, requireScopes } from '@hmac-kit/fastify';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import type { FastifyPluginAsync, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';

// Type tests (issue #16): the public factories' options and the identity the adapter adds to the request.
const keys = () => undefined;

describe('@hmac-kit/fastify types', () => {
  it('hmacAuth(options) is a plugin; requireScopes(...) a preHandler', () => {
    expectTypeOf(hmacAuth).parameter(0).toEqualTypeOf<HmacAuthOptions>();
    expectTypeOf(hmacAuth({ keys })).toEqualTypeOf<FastifyPluginAsync>();
    expectTypeOf(requireScopes('orders:write')).toEqualTypeOf<preHandlerAsyncHookHandler>();
  });

  it("options: the authenticator's, plus origin (a string or a function of the request)", () => {
    expectTypeOf<HmacAuthOptions>().toMatchTypeOf<AuthenticatorOptions>();
    expectTypeOf<HmacAuthOptions['origin']>().toEqualTypeOf<
      string | ((request: FastifyRequest) => string) | undefined
    >();
    // @ts-expect-error keys is required
    expectTypeOf(hmacAuth).toBeCallableWith({});
  });

  it('the identity: request.hmac, null on routes the plugin does not cover', () => {
    expectTypeOf<FastifyRequest['hmac']>().toEqualTypeOf<HmacIdentity | null>();
    expectTypeOf<HmacIdentity['keyId']>().toEqualTypeOf<string>();
  });
});
