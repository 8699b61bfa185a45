/**
 * The contract between the admin API's dispatcher (`admin.ts`) and its per-resource route tables
 * (`principals.ts`, `keys.ts`, `audit.ts`, `usage.ts`): a leaf, so the tables never import the dispatcher.
 */
import type { RouteDefinition } from '../routes.js';

/** One admin call, after the request is verified and the key holds the `admin` scope. */
export interface AdminCall {
  params: Record<string, string>;
  /** The request's path as received (admin prefix included), for `Link` headers. */
  path: string;
  query: URLSearchParams;
  body: Uint8Array;
  /** Who the audit log names: `admin:<principal>`. */
  actor: string;
}

/** What an admin call answers (before it is written as JSON). */
export interface AdminResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type AdminHandler = (call: AdminCall) => Promise<AdminResult>;

/** The admin routes of one resource, as data: the OpenAPI contract test reads them through the router. */
export type AdminRoutes = Array<RouteDefinition<AdminHandler>>;

/** An admin answer. */
export const ok = (status: number, body: unknown, headers?: Record<string, string>): AdminResult => ({
  status,
  body,
  headers,
});
