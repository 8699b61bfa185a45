import {
  type FetchHandler,
  getIdentity,
  type HmacAuthOptions,
  type HmacAuthWrapper,
  type HmacIdentity,
  hmacAuth,
  requireScopes,
} from '@hmac-kit/fetch';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { describe, expectTypeOf, it } from 'vitest';

// Type tests (issue #16): the public factories' options and the identity the adapter adds to the request.
const keys = () => undefined;

interface WorkerEnv {
  SECRETS: string;
}

describe('@hmac-kit/fetch types', () => {
  it('hmacAuth(options) wraps a handler and keeps its extra parameters (Workers env, ctx)', () => {
    expectTypeOf(hmacAuth).parameter(0).toEqualTypeOf<HmacAuthOptions>();
    const auth = hmacAuth({ keys });
    expectTypeOf(auth).toEqualTypeOf<HmacAuthWrapper>();
    const handler: FetchHandler<[WorkerEnv, ExecutionContextLike]> = (_request, env) => new Response(env.SECRETS);
    expectTypeOf(auth(handler)).toEqualTypeOf<
      (request: Request, env: WorkerEnv, ctx: ExecutionContextLike) => Promise<Response>
    >();
    expectTypeOf(requireScopes('orders:write')(handler)).toEqualTypeOf<
      (request: Request, env: WorkerEnv, ctx: ExecutionContextLike) => Promise<Response>
    >();
  });

  it("options: the authenticator's, plus origin and sourceAddress", () => {
    expectTypeOf<HmacAuthOptions>().toMatchTypeOf<AuthenticatorOptions>();
    expectTypeOf<HmacAuthOptions['origin']>().toEqualTypeOf<string | ((request: Request) => string) | undefined>();
    expectTypeOf<HmacAuthOptions['sourceAddress']>().toEqualTypeOf<
      ((request: Request, ...rest: unknown[]) => string | undefined) | undefined
    >();
    // @ts-expect-error keys is required
    expectTypeOf(hmacAuth).toBeCallableWith({});
  });

  it('the identity: getIdentity(request)', () => {
    expectTypeOf(getIdentity).parameter(0).toEqualTypeOf<Request>();
    expectTypeOf(getIdentity).returns.toEqualTypeOf<HmacIdentity>();
  });
});

interface ExecutionContextLike {
  waitUntil(promise: Promise<unknown>): void;
}
