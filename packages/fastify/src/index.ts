import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { toProblem } from '@hmac-kit/core';
import type { Authenticator, AuthenticatorOptions, HmacIdentity, ProblemResponse } from '@hmac-kit/middleware';
import { createAuthenticator, problemHeaders, recordBody, validateScopes } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who signed the request; set by the `hmacAuth()` plugin, `null` on routes it does not cover. */
    hmac: HmacIdentity | null;
  }
}

/** Options of {@link hmacAuth}: the authenticator's, plus how to rebuild the URL the client addressed. */
export interface HmacAuthOptions extends AuthenticatorOptions {
  /**
   * Origin the clients address (`https://api.example.com`), a string or a function of the
   * request. Default: `request.protocol` and `request.host` (both honour `trustProxy`).
   */
  origin?: string | ((request: FastifyRequest) => string);
}

const kAuthenticator = Symbol('hmac-kit.authenticator');
type Marked = FastifyRequest & { [kAuthenticator]?: Authenticator };

/** `request.host` (Fastify 5) includes the port; Fastify 4 has only `hostname`, which then included it. */
function authorityOf(request: FastifyRequest): string {
  return (request as { host?: string }).host ?? request.hostname;
}

function validateOrigin(origin: unknown): void {
  if (origin === undefined || typeof origin === 'function') return;
  if (typeof origin !== 'string' || !URL.canParse(origin) || new URL(origin).origin !== origin.replace(/\/$/, '')) {
    throw new TypeError('hmacAuth: origin must be an origin such as "https://api.example.com" or a function');
  }
}

/**
 * Sends the problem and resolves once the response has ended. Fastify only stops the
 * lifecycle after a hook when the response has ended: with an async `onSend` hook in the
 * app, `send()` returns before that, and the route handler would still run.
 */
async function refuse(reply: FastifyReply, problem: ProblemResponse): Promise<void> {
  reply.code(problem.status).headers(problemHeaders(problem)).send(JSON.stringify(problem.body));
  if (!reply.sent) await finished(reply.raw).catch(() => {});
  // The client went away mid-answer: an error still keeps the handler from running.
  if (!reply.sent) throw new Error('hmac-kit: connection closed while refusing the request');
}

/**
 * A Fastify plugin that verifies every request of the context it is registered in: signature
 * in the `preParsing` hook, over the raw payload stream, before Fastify's JSON parser runs;
 * the parser then reads exactly the verified bytes. Sets `request.hmac`; refused requests get
 * a problem+json answer (401, 403, 413, 429, 503) and never reach the handler.
 *
 * The plugin is not encapsulated (like `fastify-plugin`): register it inside the scope whose
 * routes must be signed. Register it before plugins that add their own `preParsing` stream
 * transforms (decompression), so that the bytes hashed are the bytes that were signed.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { hmacAuth, requireScopes } from '@hmac-kit/fastify';
 *
 * const app = Fastify();
 * await app.register(hmacAuth({ keys: (keyId) => keys.get(keyId) }));
 * app.post('/orders', { preHandler: requireScopes('orders:write') }, async (request, reply) => {
 *   return reply.code(201).send({ by: request.hmac!.principal, order: request.body });
 * });
 * ```
 */
export function hmacAuth(options: HmacAuthOptions): FastifyPluginAsync {
  const { origin, ...authenticatorOptions } = options ?? ({} as HmacAuthOptions);
  validateOrigin(origin);
  const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, ...authenticatorOptions });

  async function hmacAuthPlugin(app: FastifyInstance): Promise<void> {
    if (!app.hasRequestDecorator('hmac')) app.decorateRequest('hmac', null);

    app.addHook('preParsing', async (request, reply, payload) => {
      const context = { method: request.method, url: request.url };
      let url: string;
      try {
        const base =
          origin === undefined
            ? `${request.protocol}://${authorityOf(request)}`
            : typeof origin === 'function'
              ? origin(request)
              : origin;
        url = new URL(request.url, base).href;
      } catch (error) {
        await refuse(reply, authenticator.fail(error, context).problem);
        return;
      }
      const recorded = recordBody(payload);
      const outcome = await authenticator.authenticate(
        { method: request.method, url, headers: request.headers },
        recorded.body,
        { sourceAddress: request.ip },
      );
      if (!outcome.ok) {
        await refuse(reply, outcome.problem);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = await recorded.readAll(authenticator.maxBodyBytes);
      } catch (error) {
        await refuse(reply, authenticator.fail(error, { ...context, url }).problem);
        return;
      }
      request.hmac = outcome.identity;
      (request as Marked)[kAuthenticator] = authenticator;
      reply.headers(outcome.headers);
      // Hand the parser the verified bytes: the socket has been read already.
      const replay = Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
      return Object.assign(replay, { receivedEncodedLength: bytes.byteLength });
    });
  }

  // What `fastify-plugin` does: share the decorator and hook with the registering context.
  return Object.assign(hmacAuthPlugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@hmac-kit/fastify',
  });
}

/**
 * A `preHandler` hook (for routes covered by {@link hmacAuth}) that lets the request through
 * only when the key holds every named scope; otherwise it answers 403 `scope_insufficient`.
 *
 * @example
 * ```ts
 * app.delete('/orders/:id', { preHandler: requireScopes('orders:write') }, handler);
 * ```
 */
export function requireScopes(...scopes: string[]): preHandlerAsyncHookHandler {
  const required = validateScopes(scopes);
  return async function requireScopesHook(request, reply) {
    const authenticator = (request as Marked)[kAuthenticator];
    if (!request.hmac || !authenticator) {
      // Used on a route hmacAuth() does not cover: refuse rather than serve it unauthenticated.
      return refuse(reply, toProblem(new TypeError('requireScopes() used on a route without hmacAuth()')));
    }
    const outcome = authenticator.authorize(request.hmac, required, { method: request.method, url: request.url });
    if (!outcome.ok) return refuse(reply, outcome.problem);
  };
}

export type { HmacIdentity } from '@hmac-kit/middleware';
