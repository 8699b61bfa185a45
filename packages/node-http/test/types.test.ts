import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import {
  type AuthenticatedHandler,
  type HmacAuthOptions,
  type HmacAuthResult,
  type HmacIdentity,
  hmacAuth,
  type NodeHmacAuth,
  withHmacAuth,
} from '@hmac-kit/node-http';
import { describe, expectTypeOf, it } from 'vitest';

// Type tests (issue #16): the public factories' options and the identity the adapter hands the handler.
const keys = () => undefined;

describe('@hmac-kit/node-http types', () => {
  it('hmacAuth(options) authenticates one request; withHmacAuth() makes a request listener', () => {
    expectTypeOf(hmacAuth).parameter(0).toEqualTypeOf<HmacAuthOptions>();
    expectTypeOf(hmacAuth({ keys })).toEqualTypeOf<NodeHmacAuth>();
    expectTypeOf<NodeHmacAuth>().toBeCallableWith({} as IncomingMessage, {} as ServerResponse);
    expectTypeOf<ReturnType<NodeHmacAuth>>().toEqualTypeOf<Promise<HmacAuthResult | undefined>>();
    expectTypeOf(withHmacAuth({ keys }, () => {})).toEqualTypeOf<
      (req: IncomingMessage, res: ServerResponse) => Promise<void>
    >();
  });

  it("options: the authenticator's, plus origin, sourceAddress (and onError for withHmacAuth)", () => {
    expectTypeOf<HmacAuthOptions>().toMatchTypeOf<AuthenticatorOptions>();
    expectTypeOf<HmacAuthOptions['origin']>().toEqualTypeOf<string | ((req: IncomingMessage) => string) | undefined>();
    expectTypeOf<HmacAuthOptions['sourceAddress']>().toEqualTypeOf<
      ((req: IncomingMessage) => string | undefined) | undefined
    >();
    expectTypeOf(withHmacAuth).parameter(0).toMatchTypeOf<{ onError?: (error: unknown) => void }>();
    // @ts-expect-error keys is required
    expectTypeOf(hmacAuth).toBeCallableWith({});
  });

  it('the identity: the handler gets { identity, rawBody }', () => {
    expectTypeOf<HmacAuthResult>().toEqualTypeOf<{ identity: HmacIdentity; rawBody: Buffer }>();
    expectTypeOf<Parameters<AuthenticatedHandler>[2]>().toEqualTypeOf<HmacAuthResult>();
  });
});
