/** The admin API's principals: list (search, paging), create, show, disable, enable, set the password. */
import type { KeyService } from '@hmac-kit/keys';
import { principalView } from '../views.js';
import { z } from '../zod-runtime.js';
import { type AdminRoutes, ok } from './admin-call.js';
import { HttpError } from './errors.js';
import { nextLink, pageParameters, parseJson } from './input.js';

const createPrincipalBody = z
  .object({
    name: z.string().min(1).max(128),
    kind: z.enum(['user', 'service']).default('service'),
    password: z.string().min(8).max(1024).optional(),
  })
  .strict();
const passwordBody = z.object({ password: z.string().min(8).max(1024).nullable() }).strict();

/**
 * The routes under `/v1/admin/principals`.
 *
 * @example
 * ```ts
 * const router = createRouter<AdminHandler>([...principalRoutes(keyService), ...keyRoutes(keyService, config)]);
 * ```
 */
export function principalRoutes(keyService: KeyService): AdminRoutes {
  return [
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/principals',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'after');
        const search = query.get('search');
        const page = await keyService.listPrincipals({
          limit,
          ...(cursor !== undefined ? { after: cursor } : {}),
          ...(search ? { nameContains: search } : {}),
        });
        return ok(200, page.items.map(principalView), nextLink(path, query, 'after', page.next));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/principals',
      handler: async ({ body, actor }) => {
        const input = parseJson(createPrincipalBody, body);
        return ok(201, principalView(await keyService.createPrincipal({ ...input, actor })));
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/principals/{name}',
      handler: async ({ params }) => {
        const principal = await keyService.getPrincipal(params.name as string);
        if (!principal) throw new HttpError('principal_not_found', `no principal ${params.name}`);
        return ok(200, principalView(principal));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/principals/{name}/disable',
      handler: async ({ params, actor }) =>
        ok(200, principalView(await keyService.disablePrincipal(params.name as string, { actor }))),
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/principals/{name}/enable',
      handler: async ({ params, actor }) =>
        ok(200, principalView(await keyService.enablePrincipal(params.name as string, { actor }))),
    },
    {
      name: 'admin',
      methods: ['PUT', 'POST'],
      path: '/v1/admin/principals/{name}/password',
      handler: async ({ params, body, actor }) => {
        const { password } = parseJson(passwordBody, body);
        await keyService.setPassword(params.name as string, password, { actor });
        return ok(200, { name: params.name, hasPassword: password !== null });
      },
    },
  ];
}
