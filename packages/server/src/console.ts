/**
 * The admin console: a page `hmac-kit serve` serves itself at `<adminPrefix>/console/`, and the
 * JSON calls behind it under `<adminPrefix>/console/api/`.
 *
 * Security model (docs/console.md):
 * - Sign-in with an admin principal's name and password: the principal must be enabled and hold an
 *   active key with the `admin` scope (checked again on every call, so revoking that key or
 *   disabling the principal ends its sessions). Wrong password and not-an-admin answer alike.
 * - Sign-in is throttled by the server's login throttle on the source address and on
 *   (address, user): a guesser is stopped, and the user can still sign in from anywhere else.
 * - The session is a random 256-bit id in an `HttpOnly; SameSite=Strict` cookie scoped to the
 *   console's path (`Secure` under TLS); the store keeps its SHA-256 only. Idle timeout
 *   (`--console-idle-timeout`, 15 min) and an 8-hour absolute limit. Only the user's own calls
 *   extend the idle deadline: the page marks the calls it makes by itself (refresh polls) with
 *   {@link CONSOLE_BACKGROUND_HEADER}, and those are checked without extending it, so a page left
 *   open is signed out once its user has been away for the idle timeout.
 * - Every state-changing call carries the session's CSRF token in `x-csrf-token`; bodies must be
 *   `application/json` (an HTML form cannot send it cross-site without a CORS preflight, which is
 *   never granted), and requests browsers label `Sec-Fetch-Site: cross-site` are refused.
 * - Admin calls run the admin API's own handlers ({@link AdminGateway}): listings never carry a
 *   secret; only creating or rotating a key answers its new secret, once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { constantTimeEqual, type ProblemCode } from '@hmac-kit/core';
import type { KeyService } from '@hmac-kit/keys';
import { addressSubject } from '@hmac-kit/limits';
import type { AdminGateway } from './api/admin.js';
import { firstIssue, isJsonMediaType, JSON_BODY_LIMIT } from './api/input.js';
import { clientAddressOf } from './client-address.js';
import type { ServerConfig } from './config.js';
import { createForeignOriginTest } from './foreign-origin.js';
import { headerValue, readBody, sendJson, sendProblem, serverProblem } from './http.js';
import type { ServerMetrics } from './metrics.js';
import type { RequestContext, RouteHandler } from './request-context.js';
import { ANY_METHOD, createRouter, type RouteDefinition } from './routes.js';
import type { Services } from './services.js';
import { serverVersion } from './version.js';
import { z } from './zod-runtime.js';

/** Where `npm run build` (Vite, packages/console) writes the page: the same path from `src/` and `dist/`. */
export const CONSOLE_ASSETS = new URL('../dist/console/', import.meta.url);

/** The session cookie's name. */
export const CONSOLE_COOKIE = 'hmac_kit_console';
/**
 * Marks a call the page makes by itself (a refresh poll), not on its user's action: any value.
 * Such a call is answered as usual but does not extend the session's idle deadline. Sending it
 * can only shorten a session, so the server trusts its presence and never its absence.
 */
export const CONSOLE_BACKGROUND_HEADER = 'x-console-background';
/** Hard end of a session, however active it is. */
const ABSOLUTE_LIFETIME_MS = 8 * 3600 * 1000;
/** `crypto.randomBytes(32)` as base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Content-Security-Policy of the page: its own scripts and styles only, no inline script, calls
 * to its own origin only (the try-a-request form included), never framed.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

const signInBody = z.object({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) }).strict();

/** What the page learns about its session (never the session id: that stays in the HttpOnly cookie). */
export interface ConsoleSessionView {
  principal: string;
  csrfToken: string;
  idleTimeoutSeconds: number;
  expiresAt: string;
}

export interface ConsoleOptions {
  config: ServerConfig;
  services: Pick<
    Services,
    'keyService' | 'loginThrottle' | 'consoleSessions' | 'activity' | 'masterKeyIds' | 'info' | 'passwordGate'
  > & {
    ready(): Promise<Record<string, 'ok' | 'down'>>;
  };
  admin: AdminGateway;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
  /** Directory of the built page (tests point it elsewhere). Default {@link CONSOLE_ASSETS}. */
  assets?: URL;
  clock?: () => number;
}

class ConsoleError extends Error {
  constructor(
    readonly code: ProblemCode,
    detail: string,
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

const hashId = (id: string) => createHash('sha256').update(id).digest('base64url');

function sameToken(a: string, b: string): boolean {
  return constantTimeEqual(a, b);
}

function cookieValue(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index !== -1 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** Whether an admin principal may use the console: enabled, with an active `admin`-scoped key. */
export async function isConsoleAdmin(keyService: KeyService, name: string): Promise<boolean> {
  const principal = await keyService.getPrincipal(name);
  if (!principal || principal.disabled) return false;
  let after: string | undefined;
  do {
    const page = await keyService.listKeys({ principal: name, limit: 100, ...(after ? { after } : {}) });
    if (page.items.some((key) => key.status === 'active' && key.scopes.includes('admin'))) return true;
    after = page.next ?? undefined;
  } while (after);
  return false;
}

/**
 * The console's routes: the page and its assets, the session calls, the admin calls behind the
 * session, activity and health (scheme usage is the admin API's `GET /v1/admin/usage`).
 *
 * @example
 * ```ts
 * const routes = createConsole({ config, services, admin: api.admin, metrics, isTrustedProxy });
 * ```
 */
export function createConsole(options: ConsoleOptions): Array<RouteDefinition<RouteHandler>> {
  const { config, services, admin, metrics, isTrustedProxy } = options;
  const { keyService, loginThrottle, consoleSessions, activity, passwordGate } = services;
  const clock = options.clock ?? (() => Date.now());
  const assets = options.assets ?? CONSOLE_ASSETS;
  const base = `${config.adminPrefix}/console`;
  const apiBase = `${base}/api`;
  const idleSeconds = config.consoleIdleTimeoutSeconds;

  const secureRequest = (request: IncomingMessage) =>
    config.tls !== undefined ||
    config.publicOrigin?.startsWith('https:') === true ||
    (isTrustedProxy(request.socket.remoteAddress) && headerValue(request, 'x-forwarded-proto') === 'https');

  /** The cookie: path-scoped to the console, so it never reaches the upstream or the signed API. */
  const cookie = (request: IncomingMessage, value: string, maxAge: number) =>
    `${CONSOLE_COOKIE}=${value}; Path=${base}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${
      secureRequest(request) ? '; Secure' : ''
    }`;

  // Its pages are its own origin's: a sibling subdomain (Sec-Fetch-Site: same-site, which a
  // SameSite=Strict cookie does not stop) or an old browser's foreign Origin is refused as well.
  const fromForeignOrigin = createForeignOriginTest(config, isTrustedProxy);
  const refuseCrossSite = (request: IncomingMessage) => {
    if (fromForeignOrigin(request)) {
      throw new ConsoleError('cross_site_request', 'the console does not answer other origins');
    }
  };

  async function jsonBody<T>(request: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
    const bytes = await readBody(request, JSON_BODY_LIMIT);
    if (!isJsonMediaType(headerValue(request, 'content-type'))) {
      throw new ConsoleError('unsupported_media_type', 'send application/json');
    }
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new ConsoleError('invalid_json', 'the body is not valid JSON');
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ConsoleError('invalid_request', firstIssue(parsed.error));
    return parsed.data;
  }

  function fail(response: ServerResponse, context: RequestContext, error: unknown): void {
    if (error instanceof ConsoleError) {
      context.code = error.code;
      metrics.requests.inc({ outcome: 'rejected', code: error.code, route: 'console' });
      const problem = serverProblem(error.code, error.message);
      sendProblem(response, error.headers ? { ...problem, headers: error.headers } : problem, context.id);
      return;
    }
    // Key-service refusals, body limits, store outages: answered as the admin API answers them.
    admin.fail(response, context, error, 'console');
  }

  const view = (session: { principal: string; csrfToken: string; absoluteExpiresAt: number }): ConsoleSessionView => ({
    principal: session.principal,
    csrfToken: session.csrfToken,
    idleTimeoutSeconds: idleSeconds,
    expiresAt: new Date(session.absoluteExpiresAt).toISOString(),
  });

  /**
   * The signed-in admin behind a request, or a thrown 401/403. `write`: the call changes state, so
   * its CSRF token is checked. The admin right is checked again on every call. A call marked with
   * {@link CONSOLE_BACKGROUND_HEADER} leaves the idle deadline alone (only the user's calls extend it).
   */
  async function sessionOf(request: IncomingMessage, response: ServerResponse, write: boolean) {
    refuseCrossSite(request);
    const id = cookieValue(request, CONSOLE_COOKIE);
    const signedOut = () =>
      new ConsoleError('console_signed_out', 'sign in to the console', {
        'set-cookie': cookie(request, '', 0),
      });
    if (id === undefined || !SESSION_ID.test(id)) throw signedOut();
    const idHash = hashId(id);
    const background = request.headers[CONSOLE_BACKGROUND_HEADER] !== undefined;
    const session = background
      ? await consoleSessions.peek(idHash, clock())
      : await consoleSessions.touch(idHash, idleSeconds, clock());
    if (!session) throw signedOut();
    if (write) {
      const token = headerValue(request, 'x-csrf-token');
      if (token === undefined || !sameToken(token, session.csrfToken)) {
        throw new ConsoleError('csrf_token_invalid', 'missing or wrong x-csrf-token');
      }
    }
    if (!(await isConsoleAdmin(keyService, session.principal))) {
      await consoleSessions.delete(idHash);
      throw signedOut();
    }
    response.setHeader('x-hmac-kit-console-principal', session.principal);
    return { session, idHash };
  }

  const getSession: RouteHandler = async (request, response) => {
    const { session } = await sessionOf(request, response, false);
    sendJson(response, 200, view(session));
  };

  const signIn: RouteHandler = async (request, response) => {
    refuseCrossSite(request);
    const body = await jsonBody(request, signInBody);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    // The address alone, shared with every other password check of this server, and the address
    // with the user: never the user alone, which would let anyone lock an admin out everywhere.
    const subjects = [addressSubject(sourceAddress), `console-user:${sourceAddress}|${body.username}`];
    const waits = await Promise.all(subjects.map((subject) => loginThrottle.blockedFor(subject)));
    const blockedFor = Math.max(0, ...waits);
    if (blockedFor > 0) {
      throw new ConsoleError('too_many_failures', 'too many failed sign-ins; retry later', {
        'retry-after': String(Math.ceil(blockedFor)),
      });
    }
    // The one bound on password hashes in flight (issue #11 defect 10), shared with the API's logins.
    // The admin right is decided inside the password check, so that a non-admin's sign-in is audited
    // as refused (login.failed, ERR_NOT_PERMITTED), never as login.succeeded.
    const check = await passwordGate.verify(body.username, body.password, sourceAddress, (candidate) =>
      isConsoleAdmin(keyService, candidate.name),
    );
    if (check.busy) {
      throw new ConsoleError('login_busy', 'too many sign-ins in progress; retry shortly', { 'retry-after': '1' });
    }
    const { principal } = check;
    if (!principal) {
      await Promise.all(subjects.map((subject) => loginThrottle.recordFailure(subject)));
      throw new ConsoleError('invalid_credentials', 'wrong name or password, or not an administrator');
    }
    await loginThrottle.recordSuccess(subjects[1] as string);
    const id = randomBytes(32).toString('base64url');
    const now = clock();
    const session = {
      principal: principal.name,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      absoluteExpiresAt: now + ABSOLUTE_LIFETIME_MS,
    };
    await consoleSessions.create(hashId(id), session, idleSeconds);
    metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'console' });
    sendJson(response, 201, view(session), { 'set-cookie': cookie(request, id, ABSOLUTE_LIFETIME_MS / 1000) });
  };

  const signOut: RouteHandler = async (request, response) => {
    const { idHash } = await sessionOf(request, response, true);
    await consoleSessions.delete(idHash);
    response.writeHead(204, { 'set-cookie': cookie(request, '', 0), 'cache-control': 'no-store' });
    response.end();
  };

  const adminCall: RouteHandler = async (request, response) => {
    const method = request.method ?? 'GET';
    const write = method !== 'GET' && method !== 'HEAD';
    const { session } = await sessionOf(request, response, write);
    const body = write ? await readBody(request, JSON_BODY_LIMIT) : new Uint8Array();
    const contentType = headerValue(request, 'content-type');
    if (write && body.length > 0 && !isJsonMediaType(contentType)) {
      throw new ConsoleError('unsupported_media_type', 'send application/json');
    }
    const target = request.url ?? '/';
    const queryStart = target.indexOf('?');
    const received = queryStart === -1 ? target : target.slice(0, queryStart);
    const result = await admin.run({
      method,
      path: received.slice(apiBase.length),
      linkPath: received,
      query: new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1)),
      body,
      contentType,
      actor: `console:${session.principal}`,
    });
    metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'console' });
    sendJson(response, result.status, result.body, result.headers);
  };

  const activityRoute: RouteHandler = async (request, response) => {
    await sessionOf(request, response, false);
    sendJson(response, 200, activity.failures());
  };

  const health: RouteHandler = async (request, response) => {
    await sessionOf(request, response, false);
    const checks = await services.ready();
    sendJson(response, 200, {
      version: serverVersion(),
      mode: config.upstream ? 'gateway' : 'api',
      database: { kind: services.info.kind, location: services.info.location, state: checks.database ?? 'down' },
      redis: config.redis ? { state: checks.redis ?? 'down' } : null,
      masterKeyIds: services.masterKeyIds,
      currentMasterKeyId: services.masterKeyIds.at(-1) ?? null,
      schemes: config.schemes,
      startedAt,
    });
  };
  const startedAt = new Date(clock()).toISOString();

  // The page: files read once, on first request (a server that never serves the console never reads them).
  const files = new Map<string, Promise<Buffer | undefined>>();
  const readAsset = (name: string) => {
    let pending = files.get(name);
    if (!pending) {
      pending = readFile(new URL(name, assets)).catch(() => undefined);
      files.set(name, pending);
      // A missing file (not built yet) is looked for again next time.
      pending.then((found) => {
        if (!found) files.delete(name);
      });
    }
    return pending;
  };
  const serveFile = async (
    request: IncomingMessage,
    response: ServerResponse,
    context: RequestContext,
    name: string,
    cache: string,
  ) => {
    const content = await readAsset(name);
    if (!content) {
      const detail = name === 'index.html' ? 'the console is not built: run npm run build' : undefined;
      sendProblem(response, serverProblem('not_found', detail), context.id);
      return;
    }
    response.writeHead(200, {
      ...PAGE_HEADERS,
      'content-type': CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
      'content-length': content.length,
      'cache-control': cache,
    });
    response.end(request.method === 'HEAD' ? undefined : content);
  };

  type Handler = RouteHandler;
  const wrap =
    (handler: Handler): Handler =>
    async (request, response, context) => {
      try {
        await handler(request, response, context);
      } catch (error) {
        request.resume();
        fail(response, context, error);
      }
    };
  const readOnly = ['GET', 'HEAD'];
  const router = createRouter<Handler>([
    {
      name: 'console',
      methods: readOnly,
      path: '/console',
      handler: async (request, response) => {
        request.resume();
        response.writeHead(308, { location: `${base}/`, 'cache-control': 'no-store' });
        response.end();
      },
    },
    {
      name: 'console',
      methods: readOnly,
      path: '/console/',
      handler: (request, response, context) => serveFile(request, response, context, 'index.html', 'no-cache'),
    },
    {
      name: 'console',
      methods: readOnly,
      path: '/console/assets/{file}',
      handler: async (request, response, context) => {
        const file = decodeURIComponent((request.url ?? '').split('?')[0]?.split('/').at(-1) ?? '');
        if (!/^[\w-]+(\.[\w-]+)*\.(js|css|svg|png|ico)$/.test(file)) {
          sendProblem(response, serverProblem('not_found'), context.id);
          return;
        }
        // Vite names assets by content hash: a file never changes under its name.
        await serveFile(request, response, context, `assets/${file}`, 'public, max-age=31536000, immutable');
      },
    },
    { name: 'console', methods: ['GET'], path: '/console/api/session', handler: wrap(getSession) },
    { name: 'console', methods: ['POST'], path: '/console/api/session', handler: wrap(signIn) },
    { name: 'console', methods: ['DELETE'], path: '/console/api/session', handler: wrap(signOut) },
    { name: 'console', methods: ['GET'], path: '/console/api/activity', handler: wrap(activityRoute) },
    { name: 'console', methods: ['GET'], path: '/console/api/health', handler: wrap(health) },
    {
      name: 'console',
      methods: ['GET', 'POST', 'PUT'],
      path: '/console/api/v1/admin/{adminPath+}',
      handler: wrap(adminCall),
    },
  ]);

  const dispatch: RouteHandler = async (request, response, context) => {
    const target = request.url ?? '/';
    const query = target.indexOf('?');
    const path = (query === -1 ? target : target.slice(0, query)).slice(config.adminPrefix.length);
    const found = router.match(request.method ?? 'GET', path);
    if (found.kind === 'found') {
      context.routePath = config.adminPrefix + found.route.path;
      await found.route.handler(request, response, context);
      return;
    }
    request.resume();
    if (found.kind === 'method_not_allowed') {
      const problem = serverProblem('method_not_allowed', `use ${found.allowed.join(', ')}`);
      sendProblem(response, { ...problem, headers: { allow: found.allowed.join(', ') } }, context.id);
      return;
    }
    sendProblem(response, serverProblem('not_found'), context.id);
  };

  // The console is a page served with the server, not a public API: its routes are left out of the
  // OpenAPI description (`describes: []`). The admin calls it makes are the documented admin routes.
  const entry = { name: 'console', methods: [ANY_METHOD], handler: dispatch, describes: [] } as const;
  return [
    { ...entry, path: '/console' },
    { ...entry, path: '/console/' },
    { ...entry, path: '/console/{consolePath+}' },
  ];
}
