import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  answerOf,
  type FailureThrottle,
  type HashAlgorithm,
  HmacKitError,
  type ProblemCode,
  StoreUnavailable,
  toProblem,
} from '@hmac-kit/core';
import {
  AUDIT_EVENT_TYPES,
  type AuditEventType,
  type KeyAlgorithm,
  KeyExists,
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  type KeyService,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
  parseSecret,
} from '@hmac-kit/keys';
import { addressNameSubject, addressSubject } from '@hmac-kit/limits';
import type { Authenticator, HmacIdentity } from '@hmac-kit/middleware';
import { z } from 'zod';
import { createAttackWatch } from './attack-watch.js';
import { clientAddressOf } from './client-address.js';
import type { ServerConfig } from './config.js';
import { PayloadTooLarge, readBody, sendJson, sendProblem, serverProblem } from './http.js';
import { createUrlRebuilder } from './message.js';
import type { ServerMetrics } from './metrics.js';
import type { PasswordGate } from './password-gate.js';
import type { RequestContext, RouteHandler } from './request-context.js';
import { ANY_METHOD, createRouter, type RouteDefinition } from './routes.js';
import { parseDuration } from './units.js';
import { issuedKeyView, keyUsageView, keyView, principalView } from './views.js';

/** Bodies of the JSON endpoints (logins, admin calls) are small. */
const JSON_BODY_LIMIT = 64 * 1024;

/** Thrown inside handlers for a client error that is not an authentication failure. */
class HttpError extends Error {
  constructor(
    readonly code: ProblemCode,
    detail: string,
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

export interface ApiOptions {
  config: ServerConfig;
  keyService: KeyService;
  authenticator: Authenticator;
  loginThrottle: FailureThrottle;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
  /** The one bound on password hashes in flight, shared with the console. */
  passwordGate: PasswordGate;
}

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const loginBody = z.object({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) });
const createPrincipalBody = z
  .object({
    name: z.string().min(1).max(128),
    kind: z.enum(['user', 'service']).default('service'),
    password: z.string().min(8).max(1024).optional(),
  })
  .strict();
const passwordBody = z.object({ password: z.string().min(8).max(1024).nullable() }).strict();
const createKeyBody = z
  .object({
    principal: z.string().min(1).max(128),
    scopes: z.array(z.string().min(1).max(128)).max(64).default([]),
    algorithm: z.enum(['sha256', 'sha384', 'sha512']).default('sha256'),
    label: z.string().max(200).optional(),
    expiresIn: duration.optional(),
    rateLimit: z.object({ limit: z.number().int().positive(), windowSeconds: z.number().int().positive() }).optional(),
  })
  .strict();
const importKeyBody = z
  .object({
    principal: z.string().min(1).max(128),
    keyId: z.string().min(1).max(128),
    secret: z.string().min(1).max(4096),
    encoding: z.enum(['text', 'base64', 'hex']).default('text'),
    algorithm: z.enum(['sha256', 'sha384', 'sha512', 'any']).default('sha256'),
    scopes: z.array(z.string().min(1).max(128)).max(64).default([]),
    label: z.string().max(200).optional(),
    rateLimit: z.object({ limit: z.number().int().positive(), windowSeconds: z.number().int().positive() }).optional(),
  })
  .strict();

/** The bytes of an imported secret as the admin API receives it; the message never quotes it. */
function importedSecretBytes(secret: string, encoding: 'text' | 'base64' | 'hex'): Uint8Array {
  const invalid = (what: string) => new HttpError('invalid_request', `secret is not ${what}`);
  if (encoding === 'text') return new Uint8Array(Buffer.from(secret, 'utf8'));
  if (encoding === 'hex') {
    if (!/^(?:[0-9A-Fa-f]{2})+$/.test(secret)) throw invalid('hex');
    return new Uint8Array(Buffer.from(secret, 'hex'));
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(secret) || secret.replace(/=+$/, '').length % 4 === 1) throw invalid('base64');
  return new Uint8Array(Buffer.from(secret.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

const revokeBody = z.object({ reason: z.string().max(200).optional() }).strict();
const rotateBody = z.object({ overlap: duration.optional(), label: z.string().max(200).optional() }).strict();

/** A listing's query parameters: `limit` (1..1000, default 100) and its cursor, checked before the store is asked. */
function pageParameters(query: URLSearchParams, cursorName: string): { limit: number; cursor?: string } {
  const text = query.get('limit');
  const limit = text === null ? 100 : /^\d{1,4}$/.test(text) ? Number(text) : 0;
  if (limit < 1 || limit > 1000) {
    throw new HttpError('invalid_request', 'limit must be an integer from 1 to 1000');
  }
  const cursor = query.get(cursorName) ?? undefined;
  return { limit, ...(cursor !== undefined ? { cursor } : {}) };
}

/**
 * The `Link: <...>; rel="next"` header (RFC 8288) of a listing page: the same request with the
 * cursor parameter set. Listings stay JSON arrays; the next page is found the way GitHub's API does it.
 */
function nextLink(
  path: string,
  query: URLSearchParams,
  cursorName: string,
  next: string | number | null | undefined,
): Record<string, string> {
  if (next === null || next === undefined) return {};
  const following = new URLSearchParams(query);
  following.set(cursorName, String(next));
  return { link: `<${path}?${following.toString()}>; rel="next"` };
}

function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array, contentType?: string): T {
  let value: unknown = {};
  if (bytes.length > 0 && contentType?.startsWith('application/x-www-form-urlencoded')) {
    // django_hmac_authentication's obtain view (DRF) also takes form posts.
    value = Object.fromEntries(new URLSearchParams(Buffer.from(bytes).toString('utf8')));
  } else if (bytes.length > 0) {
    try {
      value = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new HttpError('invalid_json', 'the body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new HttpError('invalid_request', `${where}${issue?.message ?? 'invalid body'}`);
  }
  return parsed.data;
}

/**
 * Key-service errors whose message is meant for the admin (which principal, which key): their
 * status and code come from the error table, their detail is the message.
 */
const ADMIN_ERRORS = [
  PrincipalNotFound,
  KeyNotFound,
  PrincipalExists,
  PrincipalDisabled,
  KeyNotActive,
  KeyLimitExceeded,
  KeyExists,
] as const;

/** Maps key-service errors to HTTP answers; anything else is rethrown. */
function keyServiceProblem(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (ADMIN_ERRORS.some((type) => error instanceof type)) {
    return new HttpError(answerOf(error).shownToClientAs, (error as Error).message);
  }
  if (error instanceof TypeError) return new HttpError('invalid_request', error.message);
  return undefined;
}

/** What an admin call answers (before it is written as JSON). */
export interface AdminResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** The admin API for callers authenticated another way than a signed request (the console's session). */
export interface AdminGateway {
  /**
   * Runs one admin call. `path` is the admin route (`/v1/admin/keys`), `linkPath` the path `Link`
   * headers repeat (where the caller received the request). Throws for refusals; see `fail`.
   */
  run(call: {
    method: string;
    path: string;
    linkPath: string;
    query: URLSearchParams;
    body: Uint8Array;
    actor: string;
  }): Promise<AdminResult>;
  /** Answers a thrown error as the admin API does (problem+json with its stable code). */
  fail(response: ServerResponse, context: RequestContext, error: unknown, route: string): void;
}

/**
 * The JSON API: `GET /v1/whoami`, `POST /v1/keys` (login issuing), the admin API under
 * `/v1/admin/` (admin-scoped HMAC-signed requests) and django-hmac's `POST /obtain-hmac-api-key/`.
 * Also hands out the admin calls themselves ({@link AdminGateway}) so the console runs the very
 * same handlers behind its session instead of a copy of them.
 */
export function createApi(options: ApiOptions): {
  routes: Array<RouteDefinition<RouteHandler>>;
  admin: AdminGateway;
} {
  const { config, keyService, authenticator, loginThrottle, metrics, isTrustedProxy, passwordGate } = options;
  const loginAttacks = createAttackWatch();
  const rebuildUrl = createUrlRebuilder(config);

  function fail(response: ServerResponse, context: RequestContext, error: unknown, route: string) {
    const http = keyServiceProblem(error);
    if (http) {
      context.code = http.code;
      metrics.requests.inc({ outcome: 'rejected', code: http.code, route });
      const problem = serverProblem(http.code, http.message);
      sendProblem(response, http.headers ? { ...problem, headers: http.headers } : problem, context.id);
      return;
    }
    if (error instanceof PayloadTooLarge) {
      context.code = 'body_too_large';
      sendProblem(response, serverProblem('body_too_large', error.message), context.id);
      return;
    }
    if (error instanceof HmacKitError) {
      if (error instanceof StoreUnavailable) metrics.storeErrors.inc({ store: 'keys' });
      const problem = toProblem(error, { instance: context.id });
      context.code = problem.body.code;
      metrics.requests.inc({ outcome: 'rejected', code: problem.body.code, route });
      sendProblem(response, problem);
      return;
    }
    throw error;
  }

  /** Verifies a signed request with its buffered body; sends the problem and resolves undefined on failure. */
  async function authenticated(
    request: IncomingMessage,
    response: ServerResponse,
    context: RequestContext,
    route: string,
  ): Promise<{ identity: HmacIdentity; body: Uint8Array } | undefined> {
    const trustedPeer = isTrustedProxy(request.socket.remoteAddress);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    const body = await readBody(request, config.maxBodyBytes);
    const url = rebuildUrl(request, request.url ?? '/', trustedPeer);
    const started = process.hrtime.bigint();
    const outcome = await authenticator.authenticate(
      { method: request.method ?? 'GET', url, headers: request.headers },
      body,
      { sourceAddress },
    );
    metrics.verificationSeconds.observe(
      { outcome: outcome.ok ? 'accepted' : 'rejected' },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    if (!outcome.ok) {
      context.code = outcome.problem.body.code;
      metrics.requests.inc({ outcome: 'rejected', code: outcome.problem.body.code, route });
      sendProblem(response, { ...outcome.problem, body: { ...outcome.problem.body, instance: context.id } });
      return undefined;
    }
    context.keyId = outcome.identity.keyId;
    context.scheme = outcome.identity.scheme;
    for (const [name, value] of Object.entries(outcome.headers)) response.setHeader(name, String(value));
    return { identity: outcome.identity, body };
  }

  const whoami: RouteHandler = async (request, response, context) => {
    try {
      const auth = await authenticated(request, response, context, 'whoami');
      if (!auth) return;
      metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'whoami' });
      const { identity } = auth;
      sendJson(response, 200, {
        principal: identity.principal,
        keyId: identity.keyId,
        scopes: identity.scopes,
        scheme: identity.scheme,
      });
    } catch (error) {
      fail(response, context, error, 'whoami');
    }
  };

  /**
   * Username + password login that issues a key. Throttled per source address and per (address,
   * user), never per user alone: five wrong passwords from one address used to lock the real user
   * out from every address for 15 minutes (issue #11). A user name failing from many addresses is
   * reported instead (`principal.under_attack`). Hashing is bounded: at most `loginConcurrency`
   * password hashes run at once, further logins are refused (503, Retry-After) before any hashing.
   */
  async function login(
    request: IncomingMessage,
    response: ServerResponse,
    context: RequestContext,
    algorithm: KeyAlgorithm = 'sha256',
  ) {
    const body = parseJson(loginBody, await readBody(request, JSON_BODY_LIMIT), request.headers['content-type']);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    const pairSubject = addressNameSubject(sourceAddress, body.username);
    const subjects = [addressSubject(sourceAddress), pairSubject];
    const waits = await Promise.all(subjects.map((subject) => loginThrottle.blockedFor(subject)));
    const blockedFor = Math.max(0, ...waits);
    if (blockedFor > 0) {
      const retryAfter = String(Math.ceil(blockedFor));
      context.code = 'too_many_failures';
      metrics.requests.inc({ outcome: 'rejected', code: 'too_many_failures', route: 'login' });
      const problem = serverProblem('too_many_failures', 'too many failed logins from this address; retry later');
      sendProblem(response, { ...problem, headers: { 'retry-after': retryAfter } }, context.id);
      return undefined;
    }
    const check = await passwordGate.verify(body.username, body.password, sourceAddress);
    if (check.busy) {
      context.code = 'login_busy';
      metrics.requests.inc({ outcome: 'rejected', code: 'login_busy', route: 'login' });
      const problem = serverProblem('login_busy', 'too many logins in progress; retry shortly');
      sendProblem(response, { ...problem, headers: { 'retry-after': '1' } }, context.id);
      return undefined;
    }
    const { principal } = check;
    if (!principal) {
      await Promise.all(subjects.map((subject) => loginThrottle.recordFailure(subject)));
      reportLoginFailure(body.username, sourceAddress);
      context.code = 'invalid_credentials';
      metrics.requests.inc({ outcome: 'rejected', code: 'invalid_credentials', route: 'login' });
      sendProblem(
        response,
        {
          ...serverProblem('invalid_credentials', 'wrong username or password'),
          headers: { 'www-authenticate': 'Basic realm="hmac-kit"' },
        },
        context.id,
      );
      return undefined;
    }
    // Only this address's guesses at this user are forgiven: the address's other failures stand.
    await loginThrottle.recordSuccess(pairSubject);
    const issued = await keyService.createKey({
      principal: principal.name,
      algorithm,
      actor: `login:${principal.name}`,
    });
    context.keyId = issued.key.keyId;
    metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'login' });
    return issued;
  }

  function reportLoginFailure(username: string, sourceAddress: string): void {
    metrics.namedFailures.inc({ kind: 'login' });
    const attack = loginAttacks.observe(username, sourceAddress);
    if (attack === undefined) return;
    metrics.underAttack.inc({ kind: 'principal' });
    keyService
      .recordUnderAttack({ kind: 'principal', ...attack })
      .catch(() => metrics.storeErrors.inc({ store: 'audit' }));
  }

  const issueKey: RouteHandler = async (request, response, context) => {
    try {
      const issued = await login(request, response, context);
      if (issued) sendJson(response, 201, issuedKeyView(issued));
    } catch (error) {
      fail(response, context, error, 'login');
    }
  };

  const obtainDjangoKey: RouteHandler = async (request, response, context) => {
    try {
      const issued = await login(
        request,
        response,
        context,
        // django_hmac_authentication's clients choose SHA-256/384/512 per request (its example uses SHA-512).
        config.djangoAnyAlgorithm ? 'any' : 'sha256',
      );
      if (!issued) return;
      // django_hmac_authentication hands out base64 of the raw secret bytes; its clients decode it.
      sendJson(response, 200, {
        api_key: issued.key.keyId,
        api_secret: Buffer.from(parseSecret(issued.secret)).toString('base64'),
        message: 'These credentials will be lost forever if not stored now',
      });
    } catch (error) {
      fail(response, context, error, 'login');
    }
  };

  /** One admin call, after the request is verified and the key holds the `admin` scope. */
  interface AdminCall {
    params: Record<string, string>;
    /** The request's path as received (admin prefix included), for `Link` headers. */
    path: string;
    query: URLSearchParams;
    body: Uint8Array;
    /** Who the audit log names: `admin:<principal>`. */
    actor: string;
  }
  type AdminHandler = (call: AdminCall) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;
  const ok = (status: number, body: unknown, headers?: Record<string, string>) => ({ status, body, headers });

  // Every admin route, as data: the OpenAPI contract test reads this table through the router.
  const adminRouter = createRouter<AdminHandler>([
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/principals',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'after');
        const search = query.get('search');
        const page = await keyService.listPrincipals({
          limit,
          ...(cursor !== undefined ? { after: cursor } : {}),
          ...(search ? { nameContains: search } : {}),
        });
        return ok(200, page.items.map(principalView), nextLink(path, query, 'after', page.next));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/principals',
      handler: async ({ body, actor }) => {
        const input = parseJson(createPrincipalBody, body);
        return ok(201, principalView(await keyService.createPrincipal({ ...input, actor })));
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/principals/{name}',
      handler: async ({ params }) => {
        const principal = await keyService.getPrincipal(params.name as string);
        if (!principal) throw new HttpError('principal_not_found', `no principal ${params.name}`);
        return ok(200, principalView(principal));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/principals/{name}/disable',
      handler: async ({ params, actor }) =>
        ok(200, principalView(await keyService.disablePrincipal(params.name as string, { actor }))),
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/principals/{name}/enable',
      handler: async ({ params, actor }) =>
        ok(200, principalView(await keyService.enablePrincipal(params.name as string, { actor }))),
    },
    {
      name: 'admin',
      methods: ['PUT', 'POST'],
      path: '/v1/admin/principals/{name}/password',
      handler: async ({ params, body, actor }) => {
        const { password } = parseJson(passwordBody, body);
        await keyService.setPassword(params.name as string, password, { actor });
        return ok(200, { name: params.name, hasPassword: password !== null });
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/keys',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'after');
        const order = query.get('order') ?? 'oldest';
        if (order !== 'oldest' && order !== 'newest') {
          throw new HttpError('invalid_request', 'order must be oldest or newest');
        }
        const page = await keyService.listKeys({
          principal: query.get('principal') || undefined,
          keyId: query.get('keyId') || undefined,
          includeRevoked: query.get('all') === 'true',
          order,
          limit,
          ...(cursor !== undefined ? { after: cursor } : {}),
        });
        return ok(200, page.items.map(keyView), nextLink(path, query, 'after', page.next));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys',
      handler: async ({ body, actor }) => {
        const input = parseJson(createKeyBody, body);
        const issued = await keyService.createKey({
          principal: input.principal,
          scopes: input.scopes,
          algorithm: input.algorithm as HashAlgorithm,
          label: input.label,
          expiresInSeconds: input.expiresIn,
          rateLimit: input.rateLimit,
          actor,
        });
        return ok(201, issuedKeyView(issued));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys/import',
      handler: async ({ body, actor }) => {
        const input = parseJson(importKeyBody, body);
        const secret = importedSecretBytes(input.secret, input.encoding);
        try {
          const key = await keyService.importKey({
            principal: input.principal,
            keyId: input.keyId,
            secret,
            algorithm: input.algorithm,
            scopes: input.scopes,
            label: input.label,
            rateLimit: input.rateLimit,
            actor,
          });
          // The secret is the clients' own: never echoed.
          return ok(201, keyView(key));
        } finally {
          secret.fill(0);
        }
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/keys/{keyId}',
      handler: async ({ params }) => {
        const key = await keyService.getKey(params.keyId as string);
        if (!key) throw new HttpError('key_not_found', `no key ${params.keyId}`);
        return ok(200, keyView(key));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys/{keyId}/revoke',
      handler: async ({ params, body, actor }) => {
        const { reason } = parseJson(revokeBody, body);
        return ok(200, keyView(await keyService.revokeKey(params.keyId as string, { reason, actor })));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys/{keyId}/rotate',
      handler: async ({ params, body, actor }) => {
        const input = parseJson(rotateBody, body);
        const rotated = await keyService.rotateKey(params.keyId as string, {
          overlapSeconds: input.overlap ?? config.rotateOverlapSeconds,
          label: input.label,
          actor,
        });
        return ok(201, { ...issuedKeyView(rotated), previous: keyView(rotated.previous) });
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/audit',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'before');
        if (cursor !== undefined && !/^[1-9]\d{0,15}$/.test(cursor)) {
          throw new HttpError('invalid_request', 'before must be the id of an audit entry');
        }
        const types = query
          .getAll('type')
          .flatMap((value) => value.split(','))
          .filter(Boolean);
        if (types.some((type) => !(AUDIT_EVENT_TYPES as readonly string[]).includes(type))) {
          throw new HttpError('invalid_request', `unknown event type; use one of ${AUDIT_EVENT_TYPES.join(', ')}`);
        }
        const entries = await keyService.queryAudit({
          limit,
          principal: query.get('principal') || undefined,
          keyId: query.get('keyId') || undefined,
          ...(types.length > 0 ? { types: types as AuditEventType[] } : {}),
          ...(cursor !== undefined ? { beforeId: Number(cursor) } : {}),
        });
        // A full page may have more behind it; the next page starts below its last id.
        const next = entries.length === limit ? entries.at(-1)?.id : undefined;
        return ok(
          200,
          entries.map((entry) => ({ ...entry, at: entry.at.toISOString() })),
          nextLink(path, query, 'before', next),
        );
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/usage',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'after');
        const keyIds = query.getAll('keyId').filter(Boolean);
        if (keyIds.length > 100) throw new HttpError('invalid_request', 'at most 100 keyId parameters');
        const scheme = query.get('scheme') || undefined;
        if (scheme !== undefined && !/^[\x21-\x7e]{1,64}$/.test(scheme)) {
          throw new HttpError('invalid_request', 'scheme must be a scheme name such as rfc9421 or x-api');
        }
        const page = await keyService.listKeyUsage({
          limit,
          principal: query.get('principal') || undefined,
          ...(keyIds.length > 0 ? { keyIds } : {}),
          scheme,
          ...(cursor !== undefined ? { after: cursor } : {}),
        });
        return ok(
          200,
          page.items.map((use) => keyUsageView(use, config.legacySchemes)),
          nextLink(path, query, 'after', page.next),
        );
      },
    },
  ]);

  async function runAdmin(call: Parameters<AdminGateway['run']>[0], context?: RequestContext): Promise<AdminResult> {
    const found = adminRouter.match(call.method, call.path);
    if (found.kind === 'method_not_allowed') {
      throw new HttpError('method_not_allowed', `${call.path} does not answer ${call.method}`, {
        allow: found.allowed.join(', '),
      });
    }
    if (found.kind === 'none') {
      throw new HttpError('not_found', `no admin route ${call.method} ${call.path}`);
    }
    if (context) context.routePath = config.adminPrefix + found.route.path;
    return found.route.handler({
      params: found.params,
      path: call.linkPath,
      query: call.query,
      body: call.body,
      actor: call.actor,
    });
  }

  const admin: RouteHandler = async (request, response, context) => {
    try {
      const auth = await authenticated(request, response, context, 'admin');
      if (!auth) return;
      const allowed = authenticator.authorize(auth.identity, ['admin']);
      if (!allowed.ok) {
        context.code = allowed.problem.body.code;
        metrics.requests.inc({ outcome: 'rejected', code: allowed.problem.body.code, route: 'admin' });
        sendProblem(response, allowed.problem);
        return;
      }
      // Dispatched on the path exactly as it was signed (no dot-segment normalisation).
      const method = request.method ?? 'GET';
      const target = request.url ?? '/';
      const queryStart = target.indexOf('?');
      const received = queryStart === -1 ? target : target.slice(0, queryStart);
      const result = await runAdmin(
        {
          method,
          path: received.slice(config.adminPrefix.length),
          linkPath: received,
          query: new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1)),
          body: auth.body,
          actor: `admin:${auth.identity.principal}`,
        },
        context,
      );
      metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'admin' });
      sendJson(response, result.status, result.body, result.headers);
    } catch (error) {
      fail(response, context, error, 'admin');
    }
  };

  const routes: Array<RouteDefinition<RouteHandler>> = [];
  // Webhook deliveries POST to whoami: it answers whatever method the request was signed with.
  if (!config.upstream) routes.push({ name: 'whoami', methods: [ANY_METHOD], path: '/v1/whoami', handler: whoami });
  if (config.issuing) routes.push({ name: 'issue_key', methods: ['POST'], path: '/v1/keys', handler: issueKey });
  if (config.issuing && config.schemes.includes('django-hmac')) {
    routes.push({ name: 'django_obtain', methods: ['POST'], path: '/obtain-hmac-api-key/', handler: obtainDjangoKey });
  }
  // Any method: the admin router answers 404/405 only after authentication, so that unsigned
  // callers cannot map the admin API.
  const adminEntry = { name: 'admin', methods: [ANY_METHOD], handler: admin, describes: adminRouter.routes } as const;
  routes.push({ ...adminEntry, path: '/v1/admin' }, { ...adminEntry, path: '/v1/admin/{adminPath+}' });
  return { routes, admin: { run: (call) => runAdmin(call), fail } };
}
