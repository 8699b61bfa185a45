/**
 * In-memory KeyStore for tests and single-process demos. Same semantics as the SQL store
 * (it runs the same conformance suite); all operations are synchronous underneath, so the
 * active-key limit is trivially atomic.
 */
import { auditLimit } from './admin-rules.js';
import {
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
} from './errors.js';
import type { AuditEntry, AuditEvent, AuditQuery } from './ports/audit.js';
import type { KeyChange } from './ports/change-feed.js';
import type { KeyStore } from './ports/key-store.js';
import type { InsertKeyOptions, KeyListQuery, KeyPosition, KeyRow, ResolvedKeyRow } from './ports/keys.js';
import type { MigrationSummary } from './ports/lifecycle.js';
import type { ReencryptCandidate } from './ports/master-keys.js';
import type { PrincipalListQuery, PrincipalRow } from './ports/principals.js';
import type { KeyUsageDelta, KeyUsageListQuery, KeyUsageRow } from './ports/usage.js';

function isActive(row: KeyRow, now: number): boolean {
  return row.revokedAt === null && (row.expiresAt === null || row.expiresAt > now);
}

function copyKey(row: KeyRow): KeyRow {
  return { ...row, scopes: [...row.scopes], rateLimit: row.rateLimit ? { ...row.rateLimit } : null };
}

/** Listing order of keys on every backend: creation time, then key id in byte (code unit) order. */
function compareKeys(a: KeyPosition, b: KeyPosition): number {
  return a.createdAt - b.createdAt || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0);
}

/**
 * Keys kept sorted by {@link compareKeys}, so a page is a binary search plus the rows it returns
 * (the same cost profile as the SQL stores' index seek, instead of sorting every key per page).
 */
class SortedKeys {
  private readonly rows: KeyRow[] = [];

  /** Index of the first row ordered after `position`. */
  private firstAfter(position: KeyPosition): number {
    let low = 0;
    let high = this.rows.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareKeys(this.rows[middle]!, position) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  add(row: KeyRow): void {
    this.rows.splice(this.firstAfter(row), 0, row);
  }

  /** Bulk insertion (imports): one sort instead of a splice per row. */
  addMany(rows: readonly KeyRow[]): void {
    this.rows.push(...rows);
    this.rows.sort(compareKeys);
  }

  *walk(after: KeyPosition | undefined, newestFirst: boolean): Generator<KeyRow> {
    if (newestFirst) {
      // Rows before `after`: everything strictly below the first row not ordered before it.
      let index = after ? this.firstAfter(after) - 1 : this.rows.length - 1;
      if (after && index >= 0 && compareKeys(this.rows[index]!, after) === 0) index--;
      for (; index >= 0; index--) yield this.rows[index]!;
    } else {
      for (let index = after ? this.firstAfter(after) : 0; index < this.rows.length; index++) yield this.rows[index]!;
    }
  }
}

/**
 * A KeyStore kept in process memory (lost on exit).
 *
 * @example
 * ```ts
 * const service = await createKeyService({ store: memoryKeyStore(), masterKeys });
 * ```
 */
export function memoryKeyStore(): KeyStore {
  const principals = new Map<string, PrincipalRow>();
  const keys = new Map<string, KeyRow>();
  const ordered = new SortedKeys();
  const orderedByPrincipal = new Map<string, SortedKeys>();
  const ownKeys = (principal: string) => {
    let own = orderedByPrincipal.get(principal);
    if (!own) {
      own = new SortedKeys();
      orderedByPrincipal.set(principal, own);
    }
    return own;
  };
  const addKey = (row: KeyRow) => {
    keys.set(row.keyId, row);
    ordered.add(row);
    ownKeys(row.principal).add(row);
  };
  const audit: AuditEntry[] = [];
  const changes: (KeyChange & { at: number })[] = [];
  const checks = new Map<string, string>();
  /** Usage per key id, then per scheme. */
  const usage = new Map<string, Map<string, KeyUsageDelta>>();
  let auditSeq = 0;
  let changeSeq = 0;

  const addChanges = (keyIds: readonly string[], at: number) => {
    for (const keyId of keyIds) changes.push({ seq: ++changeSeq, keyId, at });
  };

  const store: KeyStore = {
    kind: 'memory',
    async migrate(): Promise<MigrationSummary> {
      return { applied: [] };
    },
    async close() {},

    async insertPrincipal(row) {
      if (principals.has(row.name)) throw new PrincipalExists(`principal "${row.name}" already exists`);
      principals.set(row.name, { ...row });
    },
    async getPrincipal(name) {
      const row = principals.get(name);
      return row ? { ...row } : undefined;
    },
    async listPrincipals(query: PrincipalListQuery = {}) {
      const needle = query.nameContains?.toLowerCase();
      return [...principals.values()]
        .filter(
          (row) =>
            (query.after === undefined || row.name > query.after) &&
            (needle === undefined || row.name.toLowerCase().includes(needle)),
        )
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .slice(0, query.limit ?? Number.POSITIVE_INFINITY)
        .map((row) => ({ ...row }));
    },
    async updatePrincipal(name, patch) {
      const row = principals.get(name);
      if (!row) return false;
      if (patch.disabled !== undefined) row.disabled = patch.disabled;
      if (patch.disabledAt !== undefined) row.disabledAt = patch.disabledAt;
      if (patch.passwordHash !== undefined) row.passwordHash = patch.passwordHash;
      if (patch.disabled !== undefined) {
        addChanges(
          [...keys.values()].filter((key) => key.principal === name).map((key) => key.keyId),
          Date.now(),
        );
      }
      return true;
    },

    async insertKey(row: KeyRow, options: InsertKeyOptions) {
      const principal = principals.get(row.principal);
      if (!principal) throw new PrincipalNotFound(`principal "${row.principal}" does not exist`);
      if (principal.disabled) throw new PrincipalDisabled(`principal "${row.principal}" is disabled`);
      if (keys.has(row.keyId)) throw new TypeError('duplicate key id');
      const replaced = options.replaces ? keys.get(options.replaces.keyId) : undefined;
      if (options.replaces) {
        if (!replaced || replaced.principal !== row.principal)
          throw new KeyNotFound(`key ${options.replaces.keyId} does not exist`);
        if (!isActive(replaced, options.now)) throw new KeyNotActive(`key ${replaced.keyId} is revoked or expired`);
      }
      let active = 0;
      for (const key of keys.values()) {
        if (key.principal === row.principal && key !== replaced && isActive(key, options.now)) active++;
      }
      if (active >= options.maxActiveKeys) {
        throw new KeyLimitExceeded(
          `principal "${row.principal}" already has ${active} active keys`,
          options.maxActiveKeys,
        );
      }
      if (replaced && options.replaces) {
        replaced.expiresAt = Math.min(replaced.expiresAt ?? Number.POSITIVE_INFINITY, options.replaces.expiresAt);
      }
      addKey(copyKey(row));
      addChanges(replaced ? [row.keyId, replaced.keyId] : [row.keyId], options.now);
    },
    async getKey(keyId) {
      const row = keys.get(keyId);
      return row ? copyKey(row) : undefined;
    },
    async resolveKey(keyId): Promise<ResolvedKeyRow | undefined> {
      const row = keys.get(keyId);
      if (!row) return undefined;
      return { ...copyKey(row), principalDisabled: principals.get(row.principal)?.disabled ?? true };
    },
    async listKeys(query: KeyListQuery = {}) {
      const limit = query.limit ?? Number.POSITIVE_INFINITY;
      const out: KeyRow[] = [];
      if (limit <= 0) return out;
      let source: Iterable<KeyRow>;
      if (query.keyId !== undefined) {
        const row = keys.get(query.keyId);
        const afterPosition =
          row && query.after ? compareKeys(row, query.after) * (query.newestFirst ? -1 : 1) > 0 : true;
        source = row && afterPosition ? [row] : [];
      } else if (query.principal !== undefined) {
        source = orderedByPrincipal.get(query.principal)?.walk(query.after, query.newestFirst === true) ?? [];
      } else {
        source = ordered.walk(query.after, query.newestFirst === true);
      }
      for (const row of source) {
        if (query.principal !== undefined && row.principal !== query.principal) continue;
        if (!query.includeRevoked && row.revokedAt !== null) continue;
        out.push(copyKey(row));
        if (out.length >= limit) break;
      }
      return out;
    },
    async revokeKey(keyId, at, reason) {
      const row = keys.get(keyId);
      if (!row) return undefined;
      if (row.revokedAt === null) {
        row.revokedAt = at;
        row.revokedReason = reason;
      }
      addChanges([keyId], at);
      return copyKey(row);
    },
    async touchKeys(keyIds, at) {
      for (const keyId of keyIds) {
        const row = keys.get(keyId);
        if (row && (row.lastUsedAt === null || row.lastUsedAt < at)) row.lastUsedAt = at;
      }
    },
    async addKeyUsage(deltas: readonly KeyUsageDelta[]) {
      for (const delta of deltas) {
        if (!keys.has(delta.keyId)) continue;
        let schemes = usage.get(delta.keyId);
        if (!schemes) {
          schemes = new Map();
          usage.set(delta.keyId, schemes);
        }
        const row = schemes.get(delta.scheme);
        if (!row) schemes.set(delta.scheme, { ...delta });
        else {
          row.count += delta.count;
          row.firstUsedAt = Math.min(row.firstUsedAt, delta.firstUsedAt);
          row.lastUsedAt = Math.max(row.lastUsedAt, delta.lastUsedAt);
        }
      }
    },
    async listKeyUsage(query: KeyUsageListQuery = {}) {
      const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
      const keyIds = query.keyId !== undefined ? [query.keyId] : (query.keyIds ?? [...usage.keys()]);
      const out: KeyUsageRow[] = [];
      for (const keyId of [...new Set(keyIds)].sort(byteOrder)) {
        const key = keys.get(keyId);
        const schemes = usage.get(keyId);
        if (!key || !schemes) continue;
        if (query.principal !== undefined && key.principal !== query.principal) continue;
        if (query.keyIds && !query.keyIds.includes(keyId)) continue;
        for (const row of [...schemes.values()].sort((a, b) => byteOrder(a.scheme, b.scheme))) {
          if (query.scheme !== undefined && row.scheme !== query.scheme) continue;
          const after = query.after;
          if (after && (keyId < after.keyId || (keyId === after.keyId && row.scheme <= after.scheme))) continue;
          out.push({ ...row, principal: key.principal });
        }
      }
      return out.slice(0, query.limit ?? Number.POSITIVE_INFINITY);
    },

    async countKeysByMasterKey() {
      const counts: Record<string, number> = {};
      for (const row of keys.values()) counts[row.masterKeyId] = (counts[row.masterKeyId] ?? 0) + 1;
      return counts;
    },
    async listKeysNotUnderMasterKey(masterKeyId, afterKeyId, limit): Promise<ReencryptCandidate[]> {
      return [...keys.values()]
        .filter((row) => row.masterKeyId !== masterKeyId && (afterKeyId === null || row.keyId > afterKeyId))
        .sort((a, b) => (a.keyId < b.keyId ? -1 : 1))
        .slice(0, limit)
        .map((row) => ({ keyId: row.keyId, masterKeyId: row.masterKeyId, secretCiphertext: row.secretCiphertext }));
    },
    async replaceSecretCiphertext(keyId, expected, next) {
      const row = keys.get(keyId);
      if (!row || row.masterKeyId !== expected.masterKeyId || row.secretCiphertext !== expected.secretCiphertext)
        return false;
      row.masterKeyId = next.masterKeyId;
      row.secretCiphertext = next.secretCiphertext;
      return true;
    },
    async getMasterKeyCheck(masterKeyId) {
      return checks.get(masterKeyId);
    },
    async putMasterKeyCheck(masterKeyId, check) {
      if (!checks.has(masterKeyId)) checks.set(masterKeyId, check);
      return checks.get(masterKeyId)!;
    },

    async appendAudit(events: readonly AuditEvent[]) {
      for (const event of events) {
        audit.push({
          ...event,
          at: new Date(event.at.getTime()),
          detail: event.detail ? { ...event.detail } : undefined,
          id: ++auditSeq,
        });
      }
    },
    async queryAudit(query: AuditQuery) {
      const limit = auditLimit(query.limit);
      const out: AuditEntry[] = [];
      for (let i = audit.length - 1; i >= 0 && out.length < limit; i--) {
        const entry = audit[i]!;
        if (query.types && !query.types.includes(entry.type)) continue;
        if (query.principal !== undefined && entry.principal !== query.principal) continue;
        if (query.keyId !== undefined && entry.keyId !== query.keyId) continue;
        if (query.since && entry.at.getTime() < query.since.getTime()) continue;
        if (query.until && entry.at.getTime() >= query.until.getTime()) continue;
        if (query.beforeId !== undefined && entry.id >= query.beforeId) continue;
        out.push({ ...entry, at: new Date(entry.at.getTime()) });
      }
      return out;
    },
    async pruneAudit(olderThan) {
      const before = audit.length;
      const kept = audit.filter((entry) => entry.at.getTime() >= olderThan);
      audit.splice(0, audit.length, ...kept);
      return before - kept.length;
    },

    async importRows(principalRows, keyRows) {
      for (const row of principalRows) if (!principals.has(row.name)) principals.set(row.name, { ...row });
      for (const row of keyRows) {
        if (!principals.has(row.principal)) throw new PrincipalNotFound(`principal "${row.principal}" does not exist`);
        if (keys.has(row.keyId)) throw new TypeError('duplicate key id');
      }
      const copies = keyRows.map(copyKey);
      for (const row of copies) keys.set(row.keyId, row);
      ordered.addMany(copies);
      const byPrincipal = new Map<string, KeyRow[]>();
      for (const row of copies) {
        const rows = byPrincipal.get(row.principal);
        if (rows) rows.push(row);
        else byPrincipal.set(row.principal, [row]);
      }
      for (const [principal, rows] of byPrincipal) ownKeys(principal).addMany(rows);
    },
    async latestChange() {
      return changeSeq;
    },
    async changesSince(seq, limit) {
      return changes
        .filter((change) => change.seq > seq)
        .slice(0, limit)
        .map(({ seq, keyId }) => ({ seq, keyId }));
    },
    async appendChange(keyIds, at) {
      addChanges(keyIds, at);
    },
    async pruneChanges(olderThan) {
      const before = changes.length;
      const kept = changes.filter((change) => change.at >= olderThan);
      changes.splice(0, changes.length, ...kept);
      return before - kept.length;
    },
  };
  return store;
}
