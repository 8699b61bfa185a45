import type { ProblemResponse } from './contract.js';

const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * The headers to send with a problem, guaranteed to name the problem+json media type.
 *
 * @example
 * ```ts
 * res.writeHead(outcome.problem.status, problemHeaders(outcome.problem));
 * ```
 */
export function problemHeaders(problem: ProblemResponse): Record<string, string> {
  const headers = { ...problem.headers };
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = PROBLEM_CONTENT_TYPE;
  }
  return headers;
}

/**
 * A Fetch `Response` for a refused request (problem+json body, WWW-Authenticate, Retry-After...).
 *
 * @example
 * ```ts
 * if (!outcome.ok) return problemResponse(outcome.problem);
 * ```
 */
export function problemResponse(problem: ProblemResponse): Response {
  return new Response(JSON.stringify(problem.body), { status: problem.status, headers: problemHeaders(problem) });
}

/**
 * Adds headers (e.g. RateLimit fields) to a handler's response, copying it first when its
 * headers are immutable (responses returned by `fetch()` are).
 *
 * @example
 * ```ts
 * return withHeaders(await handler(request), outcome.headers);
 * ```
 */
export function withHeaders(response: Response, headers: Record<string, string>): Response {
  const entries = Object.entries(headers);
  if (entries.length === 0) return response;
  try {
    for (const [name, value] of entries) response.headers.set(name, value);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    for (const [name, value] of entries) copy.headers.set(name, value);
    return copy;
  }
}
