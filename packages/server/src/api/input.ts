/**
 * Reading what a JSON API call sends: bodies checked against a zod schema, durations, and a
 * listing's page parameters and its `Link` header. Refusals are {@link HttpError}s.
 */

import { parseDuration } from '../units.js';
import { z } from '../zod-runtime.js';
import { HttpError } from './errors.js';

/** Bodies of the JSON endpoints (logins, admin calls, the console's own) are small. */
export const JSON_BODY_LIMIT = 64 * 1024;

/**
 * Whether a Content-Type names JSON: `application/json` or a structured `application/<name>+json`
 * (RFC 6839), in any case, with any parameters (`; charset=utf-8`). Anything else, or none, is not:
 * an admin body is read as JSON only when it says it is, so a cross-site "simple request" (a
 * `text/plain` or form body, sent without a CORS preflight) is never taken for one.
 *
 * @example
 * ```ts
 * isJsonMediaType('application/json; charset=utf-8'); // true
 * isJsonMediaType('text/plain'); // false
 * ```
 */
export function isJsonMediaType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_MEDIA_TYPE.test(contentType);
}
/** `application/json` or `application/<token>+json`, then the end or a parameter. */
const JSON_MEDIA_TYPE = /^[\t ]*application\/(?:[!#$%&'*.^_`|~0-9a-z-]+\+)?json[\t ]*(?:;|$)/i;

/** Refuses a non-empty body that does not say it is JSON: `415 unsupported_media_type`. */
export function requireJsonMediaType(body: Uint8Array, contentType: string | undefined): void {
  if (body.length > 0 && !isJsonMediaType(contentType)) {
    throw new HttpError('unsupported_media_type', 'send the body as application/json');
  }
}

/** A duration as `90d`, `12h` or a number of seconds. */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/**
 * The body as `schema` describes it: JSON, or a form post (django-hmac's obtain view). An empty
 * body reads as `{}`; the first issue becomes the detail of an `invalid_request`.
 *
 * @example
 * ```ts
 * const { reason } = parseJson(z.object({ reason: z.string().optional() }), body);
 * ```
 */
export function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array, contentType?: string): T {
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
  if (!parsed.success) throw new HttpError('invalid_request', firstIssue(parsed.error));
  return parsed.data;
}

/**
 * The detail of a refused JSON body: its first issue, prefixed by where it is (`scopes.0: ...`).
 * The admin API and the console's own endpoints word their refusals alike.
 *
 * @example
 * ```ts
 * const parsed = schema.safeParse(value);
 * if (!parsed.success) throw new HttpError('invalid_request', firstIssue(parsed.error));
 * ```
 */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return `${where}${issue?.message ?? 'invalid body'}`;
}

/** A listing's query parameters: `limit` (1..1000, default 100) and its cursor, checked before the store is asked. */
export function pageParameters(query: URLSearchParams, cursorName: string): { limit: number; cursor?: string } {
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
export function nextLink(
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
