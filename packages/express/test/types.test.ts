import {
  captureRawBody,
  type HmacAuthOptions,
  type HmacIdentity,
  hmacAuth,
  type JsonBodyOptions,
  requireScopes,
} from '@hmac-kit/express';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import type { Request, RequestHandler } from 'express';
import { describe, expectTypeOf, it } from 'vitest';

// Type tests (issue #16): the public factories' options and the identity the adapter adds to the request.
const keys = () => undefined;

describe('@hmac-kit/express types', () => {
  it('hmacAuth(options) and requireScopes(...) are Express request handlers', () => {
    expectTypeOf(hmacAuth).parameter(0).toEqualTypeOf<HmacAuthOptions>();
    expectTypeOf(hmacAuth({ keys })).toEqualTypeOf<RequestHandler>();
    expectTypeOf(requireScopes('orders:write')).toEqualTypeOf<RequestHandler>();
    expectTypeOf(requireScopes).parameters.toEqualTypeOf<string[]>();
  });

  it("options: the authenticator's, plus origin (a string or a function of the request)", () => {
    expectTypeOf<HmacAuthOptions>().toMatchTypeOf<AuthenticatorOptions>();
    expectTypeOf<HmacAuthOptions['origin']>().toEqualTypeOf<string | ((req: Request) => string) | undefined>();
    // @ts-expect-error keys is required
    expectTypeOf(hmacAuth).toBeCallableWith({});
    // @ts-expect-error origin is not a URL object
    expectTypeOf(hmacAuth).toBeCallableWith({ keys, origin: new URL('https://api.example.com') });
  });

  it('json: true or express.json-like options (limit, type, strict)', () => {
    expectTypeOf<HmacAuthOptions['json']>().toEqualTypeOf<boolean | JsonBodyOptions | undefined>();
    expectTypeOf<JsonBodyOptions['limit']>().toEqualTypeOf<number | string | undefined>();
    expectTypeOf<JsonBodyOptions['strict']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<JsonBodyOptions['type']>().toEqualTypeOf<
      string | readonly string[] | ((req: Request) => boolean) | undefined
    >();
    expectTypeOf(hmacAuth).toBeCallableWith({ keys, json: true });
    expectTypeOf(hmacAuth).toBeCallableWith({
      keys,
      json: { limit: '1mb', type: ['application/json'], strict: false },
    });
    // @ts-expect-error limit is a number or a size string
    expectTypeOf(hmacAuth).toBeCallableWith({ keys, json: { limit: true } });
    // @ts-expect-error an unknown option
    expectTypeOf(hmacAuth).toBeCallableWith({ keys, json: { inflate: true } });
  });

  it('the identity: req.hmac (set once verified) and req.rawBody', () => {
    expectTypeOf<Request['hmac']>().toEqualTypeOf<HmacIdentity | undefined>();
    expectTypeOf<Request['rawBody']>().toEqualTypeOf<Buffer | undefined>();
    expectTypeOf<HmacIdentity['principal']>().toEqualTypeOf<string>();
    expectTypeOf<HmacIdentity['scopes']>().toEqualTypeOf<readonly string[]>();
    expectTypeOf(captureRawBody).returns.toBeVoid();
  });
});
