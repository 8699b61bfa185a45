/** The admin API's audit trail: `GET /v1/admin/audit`, newest first, filtered by principal, key and event type. */
import { AUDIT_EVENT_TYPES, type AuditEventType, type KeyService } from '@hmac-kit/keys';
import { type AdminRoutes, ok } from './admin-call.js';
import { HttpError } from './errors.js';
import { nextLink, pageParameters } from './input.js';

/**
 * The audit route; its pages continue `before` the last id of a full page.
 *
 * @example
 * ```ts
 * const router = createRouter<AdminHandler>(auditRoutes(keyService));
 * ```
 */
export function auditRoutes(keyService: KeyService): AdminRoutes {
  return [
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/audit',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'before');
        if (cursor !== undefined && !/^[1-9]\d{0,15}$/.test(cursor)) {
          throw new HttpError('invalid_request', 'before must be the id of an audit entry');
        }
        const types = query
          .getAll('type')
          .flatMap((value) => value.split(','))
          .filter(Boolean);
        if (types.some((type) => !(AUDIT_EVENT_TYPES as readonly string[]).includes(type))) {
          throw new HttpError('invalid_request', `unknown event type; use one of ${AUDIT_EVENT_TYPES.join(', ')}`);
        }
        const entries = await keyService.queryAudit({
          limit,
          principal: query.get('principal') || undefined,
          keyId: query.get('keyId') || undefined,
          ...(types.length > 0 ? { types: types as AuditEventType[] } : {}),
          ...(cursor !== undefined ? { beforeId: Number(cursor) } : {}),
        });
        // A full page may have more behind it; the next page starts below its last id.
        const next = entries.length === limit ? entries.at(-1)?.id : undefined;
        return ok(
          200,
          entries.map((entry) => ({ ...entry, at: entry.at.toISOString() })),
          nextLink(path, query, 'before', next),
        );
      },
    },
  ];
}
