/**
 * The key service's principal operations: create, read, list, disable and enable (which drops the
 * principal's keys from every cache), passwords and password logins, each audited. Composed into
 * the service by service.ts.
 */
import {
  checkPrincipalName,
  encodeCursor,
  PRINCIPAL_NAME,
  pageLimit,
  principalAfter,
  toPrincipal,
} from './admin-rules.js';
import { PrincipalNotFound } from './errors.js';
import type { Page, Principal, PrincipalQuery } from './model.js';
import { hashPassword, type ScryptParams, verifyPasswordHash } from './password.js';
import type { AuditEvent } from './ports/audit.js';
import type { KeyRowStore } from './ports/keys.js';
import type { PrincipalRow, PrincipalStore } from './ports/principals.js';
import type { CreatePrincipalInput, KeyService } from './service-contract.js';

/** The principal half of {@link KeyService}. */
export type PrincipalOperations = Pick<
  KeyService,
  | 'createPrincipal'
  | 'getPrincipal'
  | 'listPrincipals'
  | 'disablePrincipal'
  | 'enablePrincipal'
  | 'setPassword'
  | 'verifyPassword'
>;

/** What {@link principalOperations} needs from the service. */
export interface PrincipalOperationsContext {
  /** Principals, and the listing of a principal's keys (disabling one invalidates them). */
  store: PrincipalStore & Pick<KeyRowStore, 'listKeys'>;
  clock: () => number;
  /** scrypt cost of new password hashes. */
  scrypt: ScryptParams;
  /** Writes one audit entry. */
  audit: (event: AuditEvent) => Promise<void>;
  /** Drops keys from every instance's cache (the key cache's `invalidate`). */
  invalidate: (keyIds: readonly string[]) => Promise<void>;
}

/**
 * The principal operations over `context`.
 *
 * @example
 * ```ts
 * const principals = principalOperations({ store, clock: Date.now, scrypt, audit, invalidate: cache.invalidate });
 * await principals.createPrincipal({ name: 'billing', kind: 'service' });
 * ```
 */
export function principalOperations(context: PrincipalOperationsContext): PrincipalOperations {
  const { store, clock, scrypt, audit } = context;
  const publish = context.invalidate;

  const principalOrThrow = async (name: string): Promise<PrincipalRow> => {
    const row = typeof name === 'string' ? await store.getPrincipal(name) : undefined;
    if (!row) throw new PrincipalNotFound(`principal "${String(name)}" does not exist`);
    return row;
  };

  const keyIdsOf = async (principal: string) =>
    (await store.listKeys({ principal, includeRevoked: true })).map((row) => row.keyId);

  return {
    async createPrincipal(input: CreatePrincipalInput) {
      checkPrincipalName(input?.name);
      if (input.kind !== 'user' && input.kind !== 'service')
        throw new TypeError("principal kind must be 'user' or 'service'");
      const row: PrincipalRow = {
        name: input.name,
        kind: input.kind,
        disabled: false,
        passwordHash: input.password === undefined ? null : await hashPassword(input.password, scrypt),
        createdAt: clock(),
        disabledAt: null,
      };
      await store.insertPrincipal(row);
      await audit({
        type: 'principal.created',
        at: new Date(row.createdAt),
        principal: row.name,
        ...(input.actor ? { actor: input.actor } : {}),
        detail: { kind: row.kind },
      });
      return toPrincipal(row);
    },
    async getPrincipal(name) {
      const row = await store.getPrincipal(name);
      return row ? toPrincipal(row) : undefined;
    },
    async listPrincipals(query: PrincipalQuery = {}): Promise<Page<Principal>> {
      const limit = pageLimit(query.limit);
      if (
        query.nameContains !== undefined &&
        (typeof query.nameContains !== 'string' || query.nameContains.length > 128)
      ) {
        throw new TypeError('nameContains must be a string of at most 128 characters');
      }
      // One row more than asked tells whether another page exists without a second query.
      const rows = await store.listPrincipals({
        limit: limit + 1,
        ...(query.after !== undefined ? { after: principalAfter(query.after) } : {}),
        ...(query.nameContains ? { nameContains: query.nameContains } : {}),
      });
      const items = rows.slice(0, limit).map(toPrincipal);
      const last = items.at(-1);
      return { items, next: rows.length > limit && last ? encodeCursor({ l: 'p', n: last.name }) : null };
    },
    async disablePrincipal(name, opts = {}) {
      await principalOrThrow(name);
      const now = clock();
      if (!(await store.updatePrincipal(name, { disabled: true, disabledAt: now })))
        throw new PrincipalNotFound(`principal "${name}" does not exist`);
      await publish(await keyIdsOf(name));
      await audit({
        type: 'principal.disabled',
        at: new Date(now),
        principal: name,
        ...(opts.actor ? { actor: opts.actor } : {}),
      });
      return toPrincipal(await principalOrThrow(name));
    },
    async enablePrincipal(name, opts = {}) {
      await principalOrThrow(name);
      const now = clock();
      if (!(await store.updatePrincipal(name, { disabled: false, disabledAt: null })))
        throw new PrincipalNotFound(`principal "${name}" does not exist`);
      await publish(await keyIdsOf(name));
      await audit({
        type: 'principal.enabled',
        at: new Date(now),
        principal: name,
        ...(opts.actor ? { actor: opts.actor } : {}),
      });
      return toPrincipal(await principalOrThrow(name));
    },
    async setPassword(name, password, opts = {}) {
      const passwordHash = password === null ? null : await hashPassword(password, scrypt);
      if (!(await store.updatePrincipal(name, { passwordHash })))
        throw new PrincipalNotFound(`principal "${name}" does not exist`);
      await audit({
        type: 'principal.password_set',
        at: new Date(clock()),
        principal: name,
        ...(opts.actor ? { actor: opts.actor } : {}),
        detail: { cleared: password === null },
      });
    },
    async verifyPassword(name, password, opts = {}) {
      const row = typeof name === 'string' && PRINCIPAL_NAME.test(name) ? await store.getPrincipal(name) : undefined;
      // Always run scrypt (on a dummy hash when needed) so timing does not reveal whether the name exists.
      const matches = await verifyPasswordHash(row?.passwordHash, password, scrypt);
      const passed = matches && row !== undefined && !row.disabled;
      // The caller's own right (the console's admin check) is decided before anything is audited:
      // a refused sign-in is never recorded as a success.
      const refused = passed && opts.permitted !== undefined && !(await opts.permitted(toPrincipal(row)));
      const ok = passed && !refused;
      await audit({
        type: ok ? 'login.succeeded' : 'login.failed',
        at: new Date(clock()),
        // A typo'd user name may be a password pasted into the wrong field: only existing names are recorded.
        ...(row ? { principal: row.name } : { detail: { unknownPrincipal: true } }),
        ...(opts.source ? { source: opts.source } : {}),
        ...(ok
          ? {}
          : { code: refused ? 'ERR_NOT_PERMITTED' : row?.disabled ? 'ERR_PRINCIPAL_DISABLED' : 'ERR_LOGIN_FAILED' }),
      });
      return ok && row ? toPrincipal(row) : undefined;
    },
  };
}
