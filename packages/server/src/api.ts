import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FailureThrottle, type HashAlgorithm, HmacKitError, StoreUnavailable, toProblem } from '@hmac-kit/core';
import {
  type ApiKey,
  AUDIT_EVENT_TYPES,
  type AuditEventType,
  type IssuedKey,
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  type KeyService,
  type Principal,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
  parseSecret,
} from '@hmac-kit/keys';
import type { Authenticator, HmacIdentity } from '@hmac-kit/middleware';
import { z } from 'zod';
import type { RequestContext, RouteHandler } from './app.js';
import { clientAddressOf } from './client-address.js';
import type { ServerConfig } from './config.js';
import { PayloadTooLarge, readBody, sendJson, sendProblem, serverProblem } from './http.js';
import { createUrlRebuilder } from './message.js';
import type { ServerMetrics } from './metrics.js';
import { parseDuration } from './units.js';

/** Bodies of the JSON endpoints (logins, admin calls) are small. */
const JSON_BODY_LIMIT = 64 * 1024;

/** Thrown inside handlers for a client error that is not an authentication failure. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
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
}

function keyView(key: ApiKey) {
  return {
    keyId: key.keyId,
    principal: key.principal,
    algorithm: key.algorithm,
    scopes: key.scopes,
    label: key.label ?? null,
    status: key.status,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    rateLimit: key.rateLimit ?? null,
    rotatedFrom: key.rotatedFrom ?? null,
  };
}

function issuedView(issued: IssuedKey) {
  return { ...keyView(issued.key), secret: issued.secret };
}

function principalView(principal: Principal) {
  return {
    name: principal.name,
    kind: principal.kind,
    disabled: principal.disabled,
    hasPassword: principal.hasPassword,
    createdAt: principal.createdAt.toISOString(),
    disabledAt: principal.disabledAt?.toISOString() ?? null,
  };
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
const revokeBody = z.object({ reason: z.string().max(200).optional() }).strict();
const rotateBody = z.object({ overlap: duration.optional(), label: z.string().max(200).optional() }).strict();

/** A listing's query parameters: `limit` (1..1000) and the cursor parameter, checked before the store is asked. */
function pageParameters(url: URL, cursorName: string): { limit: number; cursor?: string } {
  const text = url.searchParams.get('limit');
  if (text !== null && !/^\d{1,4}$/.test(text)) {
    throw new HttpError(400, 'invalid_request', 'Bad Request', 'limit must be an integer from 1 to 1000');
  }
  const limit = text === null ? 100 : Number(text);
  if (limit < 1 || limit > 1000) {
    throw new HttpError(400, 'invalid_request', 'Bad Request', 'limit must be an integer from 1 to 1000');
  }
  const cursor = url.searchParams.get(cursorName) ?? undefined;
  return { limit, ...(cursor !== undefined ? { cursor } : {}) };
}

/**
 * The `Link: <...>; rel="next"` header (RFC 8288) of a listing page: the same request with the
 * cursor parameter set. Listings stay JSON arrays; the next page is found the way GitHub's API does it.
 */
function nextLink(url: URL, cursorName: string, next: string | number | null | undefined): Record<string, string> {
  if (next === null || next === undefined) return {};
  const following = new URLSearchParams(url.searchParams);
  following.set(cursorName, String(next));
  return { link: `<${url.pathname}?${following.toString()}>; rel="next"` };
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
      throw new HttpError(400, 'invalid_json', 'Bad Request', 'the body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new HttpError(400, 'invalid_request', 'Bad Request', `${where}${issue?.message ?? 'invalid body'}`);
  }
  return parsed.data;
}

/** Maps key-service errors to HTTP answers; anything else is rethrown. */
function keyServiceProblem(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (error instanceof PrincipalNotFound) return new HttpError(404, 'principal_not_found', 'Not Found', error.message);
  if (error instanceof KeyNotFound) return new HttpError(404, 'key_not_found', 'Not Found', error.message);
  if (error instanceof PrincipalExists) return new HttpError(409, 'principal_exists', 'Conflict', error.message);
  if (error instanceof PrincipalDisabled) return new HttpError(409, 'principal_disabled', 'Conflict', error.message);
  if (error instanceof KeyNotActive) return new HttpError(409, 'key_not_active', 'Conflict', error.message);
  if (error instanceof KeyLimitExceeded) return new HttpError(409, 'key_limit_reached', 'Conflict', error.message);
  if (error instanceof TypeError) return new HttpError(400, 'invalid_request', 'Bad Request', error.message);
  return undefined;
}

/**
 * The JSON API: `GET /v1/whoami`, `POST /v1/keys` (login issuing), the admin API under
 * `/v1/admin/` (admin-scoped HMAC-signed requests) and django-hmac's `POST /obtain-hmac-api-key/`.
 */
export function createApi(options: ApiOptions): (method: string, path: string) => RouteHandler | undefined {
  const { config, keyService, authenticator, loginThrottle, metrics, isTrustedProxy } = options;
  const rebuildUrl = createUrlRebuilder(config);

  function fail(response: ServerResponse, context: RequestContext, error: unknown, route: string) {
    const http = keyServiceProblem(error);
    if (http) {
      context.code = http.code;
      metrics.requests.inc({ outcome: 'rejected', code: http.code, route });
      sendProblem(response, serverProblem(http.status, http.code, http.title, http.message), context.id);
      return;
    }
    if (error instanceof PayloadTooLarge) {
      context.code = 'body_too_large';
      sendProblem(response, serverProblem(413, 'body_too_large', 'Content Too Large', error.message), context.id);
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

  /** Username + password login that issues a key; throttled per address and per user. */
  async function login(request: IncomingMessage, response: ServerResponse, context: RequestContext) {
    const body = parseJson(loginBody, await readBody(request, JSON_BODY_LIMIT), request.headers['content-type']);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    const subjects = [`login-ip:${sourceAddress}`, `login-user:${body.username}`];
    const waits = await Promise.all(subjects.map((subject) => loginThrottle.blockedFor(subject)));
    const blockedFor = Math.max(0, ...waits);
    if (blockedFor > 0) {
      const retryAfter = String(Math.ceil(blockedFor));
      context.code = 'too_many_failures';
      metrics.requests.inc({ outcome: 'rejected', code: 'too_many_failures', route: 'login' });
      const problem = serverProblem(
        429,
        'too_many_failures',
        'Too Many Requests',
        'too many failed logins; retry later',
      );
      sendProblem(response, { ...problem, headers: { 'retry-after': retryAfter } }, context.id);
      return undefined;
    }
    const principal = await keyService.verifyPassword(body.username, body.password, { source: sourceAddress });
    if (!principal) {
      await Promise.all(subjects.map((subject) => loginThrottle.recordFailure(subject)));
      context.code = 'invalid_credentials';
      metrics.requests.inc({ outcome: 'rejected', code: 'invalid_credentials', route: 'login' });
      sendProblem(
        response,
        {
          ...serverProblem(401, 'invalid_credentials', 'Unauthorized', 'wrong username or password'),
          headers: { 'www-authenticate': 'Basic realm="hmac-kit"' },
        },
        context.id,
      );
      return undefined;
    }
    await loginThrottle.recordSuccess(`login-user:${body.username}`);
    const issued = await keyService.createKey({ principal: principal.name, actor: `login:${principal.name}` });
    context.keyId = issued.key.keyId;
    metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'login' });
    return issued;
  }

  const issueKey: RouteHandler = async (request, response, context) => {
    try {
      const issued = await login(request, response, context);
      if (issued) sendJson(response, 201, issuedView(issued));
    } catch (error) {
      fail(response, context, error, 'login');
    }
  };

  const obtainDjangoKey: RouteHandler = async (request, response, context) => {
    try {
      const issued = await login(request, response, context);
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
      const actor = `admin:${auth.identity.principal}`;
      const method = request.method ?? 'GET';
      const url = new URL(request.url ?? '/', 'http://local');
      const parts = url.pathname
        .slice(config.adminPrefix.length)
        .replace(/^\/v1\/admin\/?/, '')
        .split('/')
        .filter(Boolean)
        .map((part) => decodeURIComponent(part));
      const [collection, id, action] = parts;
      const reply = (status: number, value: unknown, headers?: Record<string, string>) => {
        metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'admin' });
        sendJson(response, status, value, headers);
      };
      if (collection === 'principals') {
        if (!id && method === 'GET') {
          const { limit, cursor } = pageParameters(url, 'after');
          const page = await keyService.listPrincipals({
            limit,
            ...(cursor !== undefined ? { after: cursor } : {}),
            ...(url.searchParams.get('search') ? { nameContains: url.searchParams.get('search') as string } : {}),
          });
          return reply(200, page.items.map(principalView), nextLink(url, 'after', page.next));
        }
        if (!id && method === 'POST') {
          const input = parseJson(createPrincipalBody, auth.body);
          return reply(201, principalView(await keyService.createPrincipal({ ...input, actor })));
        }
        if (id && !action && method === 'GET') {
          const principal = await keyService.getPrincipal(id);
          if (!principal) throw new HttpError(404, 'principal_not_found', 'Not Found', `no principal ${id}`);
          return reply(200, principalView(principal));
        }
        if (id && action === 'disable' && method === 'POST') {
          return reply(200, principalView(await keyService.disablePrincipal(id, { actor })));
        }
        if (id && action === 'enable' && method === 'POST') {
          return reply(200, principalView(await keyService.enablePrincipal(id, { actor })));
        }
        if (id && action === 'password' && (method === 'PUT' || method === 'POST')) {
          const { password } = parseJson(passwordBody, auth.body);
          await keyService.setPassword(id, password, { actor });
          return reply(200, { name: id, hasPassword: password !== null });
        }
      }
      if (collection === 'keys') {
        if (!id && method === 'GET') {
          const { limit, cursor } = pageParameters(url, 'after');
          const order = url.searchParams.get('order') ?? 'oldest';
          if (order !== 'oldest' && order !== 'newest') {
            throw new HttpError(400, 'invalid_request', 'Bad Request', 'order must be oldest or newest');
          }
          const page = await keyService.listKeys({
            principal: url.searchParams.get('principal') || undefined,
            keyId: url.searchParams.get('keyId') || undefined,
            includeRevoked: url.searchParams.get('all') === 'true',
            order,
            limit,
            ...(cursor !== undefined ? { after: cursor } : {}),
          });
          return reply(200, page.items.map(keyView), nextLink(url, 'after', page.next));
        }
        if (!id && method === 'POST') {
          const input = parseJson(createKeyBody, auth.body);
          const issued = await keyService.createKey({
            principal: input.principal,
            scopes: input.scopes,
            algorithm: input.algorithm as HashAlgorithm,
            label: input.label,
            expiresInSeconds: input.expiresIn,
            rateLimit: input.rateLimit,
            actor,
          });
          return reply(201, issuedView(issued));
        }
        if (id && !action && method === 'GET') {
          const key = await keyService.getKey(id);
          if (!key) throw new HttpError(404, 'key_not_found', 'Not Found', `no key ${id}`);
          return reply(200, keyView(key));
        }
        if (id && action === 'revoke' && method === 'POST') {
          const { reason } = parseJson(revokeBody, auth.body);
          return reply(200, keyView(await keyService.revokeKey(id, { reason, actor })));
        }
        if (id && action === 'rotate' && method === 'POST') {
          const input = parseJson(rotateBody, auth.body);
          const rotated = await keyService.rotateKey(id, {
            overlapSeconds: input.overlap ?? config.rotateOverlapSeconds,
            label: input.label,
            actor,
          });
          return reply(201, { ...issuedView(rotated), previous: keyView(rotated.previous) });
        }
      }
      if (collection === 'audit' && !id && method === 'GET') {
        const { limit, cursor } = pageParameters(url, 'before');
        if (cursor !== undefined && !/^[1-9]\d{0,15}$/.test(cursor)) {
          throw new HttpError(400, 'invalid_request', 'Bad Request', 'before must be the id of an audit entry');
        }
        const types = url.searchParams
          .getAll('type')
          .flatMap((value) => value.split(','))
          .filter(Boolean);
        const unknownType = types.find((type) => !(AUDIT_EVENT_TYPES as readonly string[]).includes(type));
        if (unknownType !== undefined) {
          throw new HttpError(
            400,
            'invalid_request',
            'Bad Request',
            `unknown event type; use one of ${AUDIT_EVENT_TYPES.join(', ')}`,
          );
        }
        const entries = await keyService.queryAudit({
          limit,
          principal: url.searchParams.get('principal') || undefined,
          keyId: url.searchParams.get('keyId') || undefined,
          ...(types.length > 0 ? { types: types as AuditEventType[] } : {}),
          ...(cursor !== undefined ? { beforeId: Number(cursor) } : {}),
        });
        // A full page may have more behind it; the next page starts below its last id.
        const next = entries.length === limit ? entries.at(-1)?.id : undefined;
        return reply(
          200,
          entries.map((entry) => ({ ...entry, at: entry.at.toISOString() })),
          nextLink(url, 'before', next),
        );
      }
      throw new HttpError(404, 'not_found', 'Not Found', `no admin route ${method} ${url.pathname}`);
    } catch (error) {
      fail(response, context, error, 'admin');
    }
  };

  const djangoEnabled = config.schemes.includes('django-hmac');
  return (method, path) => {
    if (path === '/v1/whoami' && !config.upstream) return whoami;
    if (path === '/v1/keys' && method === 'POST' && config.issuing) return issueKey;
    if (path === '/obtain-hmac-api-key/' && method === 'POST' && djangoEnabled && config.issuing)
      return obtainDjangoKey;
    if (path === '/v1/admin' || path.startsWith('/v1/admin/')) return admin;
    return undefined;
  };
}
