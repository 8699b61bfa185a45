/**
 * A small declarative router for hmac-kit's own endpoints. Routes are data (method, path
 * template, name), so the server can list exactly what it answers: the OpenAPI contract test
 * fails when a route is not documented, and metrics and traces name requests by route.
 */

/** The names requests are labelled with in metrics, traces and logs. */
export type RouteName =
  | 'health'
  | 'ready'
  | 'metrics'
  | 'openapi'
  | 'verify'
  | 'whoami'
  | 'issue_key'
  | 'django_obtain'
  | 'admin'
  | 'console'
  | 'gateway'
  | 'not_found';

/** Methods a route can declare; `ANY` routes answer whatever method the signed request used. */
export const ANY_METHOD = 'ANY';

/** One route: which methods, which path template, which name. */
export interface RouteDefinition<H> {
  name: RouteName;
  /** Uppercase methods, or {@link ANY_METHOD} for routes that verify the client's own method. */
  methods: readonly string[];
  /**
   * Path template as OpenAPI writes it: `/v1/admin/keys/{keyId}`. `{name}` matches one non-empty
   * segment (percent-decoded); a last `{name+}` matches the rest of the path, slashes included.
   */
  path: string;
  handler: H;
  /** For a catch-all that hands over to a router of its own: the routes listed in its place. */
  describes?: readonly RouteDescription[];
}

/** A route as {@link Router.routes} lists it (for documentation checks). */
export interface RouteDescription {
  name: RouteName;
  methods: readonly string[];
  path: string;
}

/** What {@link Router.match} found. */
export type RouteMatch<H> =
  | { kind: 'found'; route: RouteDefinition<H>; params: Record<string, string> }
  /** The path exists but not for this method: answer 405 with `Allow`. */
  | { kind: 'method_not_allowed'; allowed: string[] }
  | { kind: 'none' };

export interface Router<H> {
  match(method: string, path: string): RouteMatch<H>;
  readonly routes: readonly RouteDescription[];
}

interface CompiledRoute<H> {
  route: RouteDefinition<H>;
  /** Literal segments, or `{ param }` / `{ rest }` placeholders. */
  segments: Array<string | { param: string } | { rest: string }>;
}

function compile<H>(route: RouteDefinition<H>): CompiledRoute<H> {
  if (!route.path.startsWith('/')) throw new TypeError(`route ${route.name}: path must start with /`);
  const parts = route.path.split('/').slice(1);
  const segments = parts.map((part, index) => {
    const placeholder = /^\{(\w+)(\+?)\}$/.exec(part);
    if (!placeholder) return part;
    const [, name, rest] = placeholder as unknown as [string, string, string];
    if (rest && index !== parts.length - 1) throw new TypeError(`route ${route.name}: {${name}+} must come last`);
    return rest ? { rest: name } : { param: name };
  });
  return { route, segments };
}

/** Percent-decodes one segment; a malformed escape makes the path match nothing. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function matchPath<H>(compiled: CompiledRoute<H>, parts: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  const { segments } = compiled;
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index] as CompiledRoute<H>['segments'][number];
    const part = parts[index];
    if (typeof segment === 'string') {
      if (part !== segment) return undefined;
    } else if ('rest' in segment) {
      if (index >= parts.length) return undefined;
      const rest = parts.slice(index).join('/');
      if (rest === '') return undefined;
      params[segment.rest] = rest;
      return params;
    } else {
      if (part === undefined || part === '') return undefined;
      const decoded = decodeSegment(part);
      if (decoded === undefined) return undefined;
      params[segment.param] = decoded;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

/**
 * Builds a router over route definitions. Literal paths are found with one map lookup (the
 * common case: whoami, health, metrics); templates are tried in order.
 *
 * @example
 * ```ts
 * const router = createRouter([{ name: 'health', methods: ['GET', 'HEAD'], path: '/healthz', handler: health }]);
 * const found = router.match('GET', '/healthz'); // { kind: 'found', route, params: {} }
 * ```
 */
export function createRouter<H>(routes: ReadonlyArray<RouteDefinition<H>>): Router<H> {
  // A literal route's match is the same answer every time: built once, frozen (no caller may change
  // it), and handed out without a result object, params object or `allowed` list per request
  // (forward-auth and whoami come through here on every request, issue #15).
  const literal = new Map<string, Array<Extract<RouteMatch<H>, { kind: 'found' }>>>();
  const templated: Array<CompiledRoute<H>> = [];
  for (const route of routes) {
    if (route.path.includes('{')) {
      templated.push(compile(route));
    } else {
      const list = literal.get(route.path) ?? [];
      list.push(Object.freeze({ kind: 'found' as const, route, params: NO_PARAMS }));
      literal.set(route.path, list);
    }
  }
  const accepts = (route: RouteDefinition<H>, method: string) =>
    route.methods.includes(method) || route.methods.includes(ANY_METHOD);
  return {
    routes: routes.flatMap(({ name, methods, path, describes }) => describes ?? [{ name, methods, path }]),
    match(method, path) {
      let allowed: string[] | undefined;
      const candidates = literal.get(path);
      if (candidates) {
        // Indexed: a for...of allocated its iterator results (issue #15).
        for (let index = 0; index < candidates.length; index++) {
          const found = candidates[index] as Extract<RouteMatch<H>, { kind: 'found' }>;
          if (accepts(found.route, method)) return found;
          allowed = allowed === undefined ? [...found.route.methods] : [...allowed, ...found.route.methods];
        }
      }
      if (templated.length > 0) {
        const parts = path.split('/').slice(1);
        for (const compiled of templated) {
          const params = matchPath(compiled, parts);
          if (!params) continue;
          if (accepts(compiled.route, method)) return { kind: 'found', route: compiled.route, params };
          allowed = allowed === undefined ? [...compiled.route.methods] : [...allowed, ...compiled.route.methods];
        }
      }
      return allowed !== undefined ? { kind: 'method_not_allowed', allowed: [...new Set(allowed)] } : NO_MATCH;
    },
  };
}

/** The params of every literal route's match: none, and frozen (it is shared). */
const NO_PARAMS: Record<string, string> = Object.freeze({});
const NO_MATCH = Object.freeze({ kind: 'none' as const });
