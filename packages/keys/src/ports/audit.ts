/**
 * The audit log: its event types, entries and queries, and the store port that appends, queries
 * and prunes them. An entry never holds a secret or a password.
 */

/** Every audit event type, for validating filters (e.g. the admin API's `?type=`). */
export const AUDIT_EVENT_TYPES = [
  'principal.created',
  'principal.disabled',
  'principal.enabled',
  'principal.password_set',
  'key.created',
  'key.rotated',
  'key.revoked',
  'login.succeeded',
  'login.failed',
  'auth.failed',
  'key.under_attack',
  'principal.under_attack',
  'master_key.rotated',
] as const;

/** Audit event types. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** One audit entry as written. Never contains a secret or a password. */
export interface AuditEvent {
  type: AuditEventType;
  at: Date;
  /** Principal concerned (subject of the event). */
  principal?: string;
  keyId?: string;
  /** Who did it (admin name, `cli`, ...) when known. */
  actor?: string;
  /** Source address (for logins and authentication failures). */
  source?: string;
  /** Error code (authentication failures, failed logins), e.g. `ERR_SIGNATURE_INVALID`. */
  code?: string;
  /** Small structured extras (e.g. `{ reason }`, `{ rotatedTo }`). Never secrets. */
  detail?: Record<string, string | number | boolean | null>;
}

/** A stored audit entry: the event plus its monotonic id. */
export interface AuditEntry extends AuditEvent {
  id: number;
}

/** Filters for {@link KeyService.queryAudit}; results are newest first. */
export interface AuditQuery {
  types?: readonly AuditEventType[];
  principal?: string;
  keyId?: string;
  /** Inclusive lower bound. */
  since?: Date;
  /** Exclusive upper bound. */
  until?: Date;
  /** Only entries with an id lower than this (pagination cursor: pass the last id you got). */
  beforeId?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** The audit log. */
export interface AuditStore {
  /** Appends audit entries. */
  appendAudit(events: readonly AuditEvent[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<AuditEntry[]>;
  /** Deletes audit entries older than `olderThan`; resolves how many. */
  pruneAudit(olderThan: number): Promise<number>;
}
