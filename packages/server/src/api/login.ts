/**
 * Logins that issue a key: `POST /v1/keys` (username + password) and django-hmac's
 * `POST /obtain-hmac-api-key/`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FailureThrottle } from '@hmac-kit/core';
import { type KeyAlgorithm, type KeyService, parseSecret } from '@hmac-kit/keys';
import { addressNameSubject, addressSubject } from '@hmac-kit/limits';
import { createAttackWatch } from '../attack-watch.js';
import { clientAddressOf } from '../client-address.js';
import type { ServerConfig } from '../config.js';
import { createForeignOriginTest } from '../foreign-origin.js';
import { readBody, sendJson, sendProblem, serverProblem } from '../http.js';
import type { ServerMetrics } from '../metrics.js';
import type { PasswordGate } from '../password-gate.js';
import type { RequestContext, RouteHandler } from '../request-context.js';
import { issuedKeyView } from '../views.js';
import { z } from '../zod-runtime.js';
import { type FailureResponder, HttpError } from './errors.js';
import { JSON_BODY_LIMIT, parseJson } from './input.js';

const loginBody = z.object({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) });

/** What the login handlers need. */
export interface LoginOptions {
  config: ServerConfig;
  keyService: KeyService;
  loginThrottle: FailureThrottle;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
  /** The one bound on password hashes in flight, shared with the console. */
  passwordGate: PasswordGate;
  fail: FailureResponder;
}

/**
 * The two login routes' handlers: `issueKey` answers an hmac-kit issued key, `obtainDjangoKey`
 * the credentials django_hmac_authentication's clients expect.
 *
 * @example
 * ```ts
 * const { issueKey } = createLoginHandlers({ config, keyService, loginThrottle, metrics, isTrustedProxy, passwordGate, fail });
 * routes.push({ name: 'issue_key', methods: ['POST'], path: '/v1/keys', handler: issueKey });
 * ```
 */
export function createLoginHandlers(options: LoginOptions): { issueKey: RouteHandler; obtainDjangoKey: RouteHandler } {
  const { config, keyService, loginThrottle, metrics, isTrustedProxy, passwordGate, fail } = options;
  const loginAttacks = createAttackWatch();
  const fromForeignOrigin = createForeignOriginTest(config, isTrustedProxy);

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
    // A login no page of this server sends: a page of another origin's simple request (form or
    // text/plain, no CORS preflight, and the server grants no CORS). Refused before the body is read
    // and before any throttle or password check, as the console refuses it: its wrong passwords would
    // count against the visitor's address, whose budget every password check of this server shares.
    // Another origin: `Sec-Fetch-Site` other than same-origin/none (a sibling subdomain is same-site),
    // or, from a browser that sends none, a foreign `Origin` (see foreign-origin.ts).
    if (fromForeignOrigin(request)) {
      throw new HttpError('cross_site_request', 'logins are not taken from other origins');
    }
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

  return { issueKey, obtainDjangoKey };
}
