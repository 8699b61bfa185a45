/** The admin API's key usage: `GET /v1/admin/usage`, which schemes each key was used with (a migration aid). */
import type { KeyService } from '@hmac-kit/keys';
import type { ServerConfig } from '../config.js';
import { keyUsageView } from '../views.js';
import { type AdminRoutes, ok } from './admin-call.js';
import { HttpError } from './errors.js';
import { nextLink, pageParameters } from './input.js';

/**
 * The usage route; `config.legacySchemes` grades the declared schemes as weak or not.
 *
 * @example
 * ```ts
 * const router = createRouter<AdminHandler>(usageRoutes(keyService, config));
 * ```
 */
export function usageRoutes(keyService: KeyService, config: Pick<ServerConfig, 'legacySchemes'>): AdminRoutes {
  return [
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/usage',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'after');
        const keyIds = query.getAll('keyId').filter(Boolean);
        if (keyIds.length > 100) throw new HttpError('invalid_request', 'at most 100 keyId parameters');
        const scheme = query.get('scheme') || undefined;
        if (scheme !== undefined && !/^[\x21-\x7e]{1,64}$/.test(scheme)) {
          throw new HttpError('invalid_request', 'scheme must be a scheme name such as rfc9421 or x-api');
        }
        const page = await keyService.listKeyUsage({
          limit,
          principal: query.get('principal') || undefined,
          ...(keyIds.length > 0 ? { keyIds } : {}),
          scheme,
          ...(cursor !== undefined ? { after: cursor } : {}),
        });
        return ok(
          200,
          page.items.map((use) => keyUsageView(use, config.legacySchemes)),
          nextLink(path, query, 'after', page.next),
        );
      },
    },
  ];
}
