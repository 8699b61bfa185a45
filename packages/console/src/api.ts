/**
 * The page's calls to `hmac-kit serve`. Admin calls go to `api/v1/admin/...` (the admin API's own
 * handlers behind the console session) and are typed by the OpenAPI description
 * (`src/generated/openapi.ts`, generated from docs/openapi.yaml; a test keeps it current).
 */
// The failure window is console-only (not in the admin API's OpenAPI description): its one
// definition is the server's (type-only: nothing of the server is bundled into the page).
import type { FailureCount, FailureWindow } from '@hmac-kit/server/activity';
import type { components } from './generated/openapi.ts';

export type { FailureCount, FailureWindow };

export type Key = components['schemas']['Key'];
export type IssuedKey = components['schemas']['IssuedKey'];
export type RotatedKey = components['schemas']['RotatedKey'];
export type Principal = components['schemas']['Principal'];
export type AuditEntry = components['schemas']['AuditEntry'];
export type CreateKey = components['schemas']['CreateKey'];
export type CreatePrincipal = components['schemas']['CreatePrincipal'];
export type RotateKey = components['schemas']['RotateKey'];
export type RevokeKey = components['schemas']['RevokeKey'];
export type Problem = components['schemas']['Problem'];
export type AuditEventType = AuditEntry['type'];
export type KeyUsage = components['schemas']['KeyUsage'];

/** The console session as the server describes it (packages/server/src/console.ts). */
export interface Session {
  principal: string;
  csrfToken: string;
  idleTimeoutSeconds: number;
  expiresAt: string;
}

export interface Health {
  version: string;
  mode: 'gateway' | 'api';
  database: { kind: string; location: string; state: 'ok' | 'down' };
  redis: { state: 'ok' | 'down' } | null;
  masterKeyIds: string[];
  currentMasterKeyId: string | null;
  schemes: string[];
  startedAt: string;
}

/** A page of a listing and the URL of the next one (from the `Link: <...>; rel="next"` header). */
export interface Page<T> {
  items: T[];
  next: string | undefined;
}

/** A refused call: the server's problem details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
}

/** Where the API lives, relative to the page (`<prefix>/console/`). */
const API = new URL('api/', document.baseURI);

let csrfToken: string | undefined;
let onSignedOut: (() => void) | undefined;

/** Called when the server answers that the session is gone (idle timeout, sign-out elsewhere). */
export function whenSignedOut(listener: () => void): void {
  onSignedOut = listener;
}

/**
 * Options of a call. `background`: the page makes this call by itself (a refresh poll), not on its
 * user's action; the server then leaves the session's idle deadline alone, so a page left open is
 * still signed out after the idle timeout (`x-console-background`, packages/server/src/console.ts).
 */
interface CallOptions {
  background?: boolean;
}

async function request<T>(
  method: string,
  path: string | URL,
  body?: unknown,
  options: CallOptions = {},
): Promise<{ data: T; response: Response }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.background) headers['x-console-background'] = '1';
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(typeof path === 'string' ? new URL(path, API) : path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await response.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!response.ok) {
    const problem = (data ?? {}) as Partial<Problem>;
    if (response.status === 401 && problem.code === 'console_signed_out' && path !== 'session') {
      csrfToken = undefined;
      onSignedOut?.();
    }
    throw new ApiError(response.status, problem);
  }
  return { data: data as T, response };
}

function nextOf(response: Response): string | undefined {
  const link = response.headers.get('link');
  const target = link ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
  return target ? new URL(target, window.location.origin).href : undefined;
}

async function page<T>(path: string | URL): Promise<Page<T>> {
  const { data, response } = await request<T[]>('GET', path);
  return { items: data, next: nextOf(response) };
}

function query(parameters: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== '' && value !== false) search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The number of rows a listing page asks for. */
export const PAGE_SIZE = 50;

export const api = {
  async session(): Promise<Session | undefined> {
    try {
      const { data } = await request<Session>('GET', 'session');
      csrfToken = data.csrfToken;
      return data;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return undefined;
      throw error;
    }
  },
  async signIn(username: string, password: string): Promise<Session> {
    const { data } = await request<Session>('POST', 'session', { username, password });
    csrfToken = data.csrfToken;
    return data;
  },
  async signOut(): Promise<void> {
    try {
      await request<undefined>('DELETE', 'session');
    } finally {
      csrfToken = undefined;
    }
  },
  keys(filter: { principal?: string; keyId?: string; all?: boolean } | string): Promise<Page<Key>> {
    if (typeof filter === 'string') return page<Key>(new URL(filter));
    return page<Key>(`v1/admin/keys${query({ ...filter, order: 'newest', limit: PAGE_SIZE })}`);
  },
  principals(filter: { search?: string } | string): Promise<Page<Principal>> {
    if (typeof filter === 'string') return page<Principal>(new URL(filter));
    return page<Principal>(`v1/admin/principals${query({ ...filter, limit: PAGE_SIZE })}`);
  },
  audit(
    filter: { keyId?: string; principal?: string; type?: AuditEventType | '' } | string,
  ): Promise<Page<AuditEntry>> {
    if (typeof filter === 'string') return page<AuditEntry>(new URL(filter));
    return page<AuditEntry>(`v1/admin/audit${query({ ...filter, limit: PAGE_SIZE })}`);
  },
  async createPrincipal(input: CreatePrincipal): Promise<Principal> {
    return (await request<Principal>('POST', 'v1/admin/principals', input)).data;
  },
  async createKey(input: CreateKey): Promise<IssuedKey> {
    return (await request<IssuedKey>('POST', 'v1/admin/keys', input)).data;
  },
  async rotateKey(keyId: string, input: RotateKey): Promise<RotatedKey> {
    return (await request<RotatedKey>('POST', `v1/admin/keys/${encodeURIComponent(keyId)}/rotate`, input)).data;
  },
  async revokeKey(keyId: string, input: RevokeKey): Promise<Key> {
    return (await request<Key>('POST', `v1/admin/keys/${encodeURIComponent(keyId)}/revoke`, input)).data;
  },
  /**
   * The schemes each of these keys was used with, as persisted by every worker (`GET /v1/admin/usage`).
   * `background`: a refresh the page makes by itself (it does not keep the session alive).
   */
  async usage(keyIds: readonly string[], options: CallOptions = {}): Promise<Record<string, KeyUsage[]>> {
    const search = new URLSearchParams([...keyIds.slice(0, 100).map((keyId) => ['keyId', keyId]), ['limit', '1000']]);
    const byKey: Record<string, KeyUsage[]> = {};
    for (const use of (await request<KeyUsage[]>('GET', `v1/admin/usage?${search}`, undefined, options)).data) {
      byKey[use.keyId] = [...(byKey[use.keyId] ?? []), use];
    }
    return byKey;
  },
  async activity(): Promise<FailureWindow> {
    return (await request<FailureWindow>('GET', 'activity')).data;
  },
  async health(): Promise<Health> {
    return (await request<Health>('GET', 'health')).data;
  },
};

/** The message to show for a failed call. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const code = error.problem.code ? ` (${error.problem.code})` : '';
    return `${error.problem.detail ?? error.problem.title ?? `HTTP ${error.status}`}${code}`;
  }
  return error instanceof Error ? error.message : String(error);
}
