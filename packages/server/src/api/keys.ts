/** The admin API's keys: list (filters, order, paging), create, import, show, revoke, rotate. */
import type { HashAlgorithm } from '@hmac-kit/core';
import type { KeyService } from '@hmac-kit/keys';
import type { ServerConfig } from '../config.js';
import { decodeSecretText } from '../units.js';
import { issuedKeyView, keyView } from '../views.js';
import { z } from '../zod-runtime.js';
import { type AdminRoutes, ok } from './admin-call.js';
import { HttpError } from './errors.js';
import { duration, nextLink, pageParameters, parseJson } from './input.js';

const createKeyBody = z
  .object({
    principal: z.string().min(1).max(128),
    scopes: z.array(z.string().min(1).max(128)).max(64).default([]),
    algorithm: z.enum(['sha256', 'sha384', 'sha512']).default('sha256'),
    label: z.string().max(200).optional(),
    expiresIn: duration.refine((seconds) => seconds >= 1, 'must be at least 1s').optional(),
    rateLimit: z.object({ limit: z.number().int().positive(), windowSeconds: z.number().int().positive() }).optional(),
  })
  .strict();
const importKeyBody = z
  .object({
    principal: z.string().min(1).max(128),
    keyId: z.string().min(1).max(128),
    secret: z.string().min(1).max(4096),
    encoding: z.enum(['text', 'base64', 'hex']).default('text'),
    algorithm: z.enum(['sha256', 'sha384', 'sha512', 'any']).default('sha256'),
    scopes: z.array(z.string().min(1).max(128)).max(64).default([]),
    label: z.string().max(200).optional(),
    rateLimit: z.object({ limit: z.number().int().positive(), windowSeconds: z.number().int().positive() }).optional(),
  })
  .strict();
const revokeBody = z.object({ reason: z.string().max(200).optional() }).strict();
const rotateBody = z.object({ overlap: duration.optional(), label: z.string().max(200).optional() }).strict();

/** The bytes of an imported secret as the admin API receives it; the message never quotes it. */
function importedSecretBytes(secret: string, encoding: 'text' | 'base64' | 'hex'): Uint8Array {
  if (encoding === 'text') return new Uint8Array(Buffer.from(secret, 'utf8'));
  const decoded = decodeSecretText(secret, encoding);
  if (decoded === undefined) throw new HttpError('invalid_request', `secret is not ${encoding}`);
  return new Uint8Array(decoded);
}

/**
 * The routes under `/v1/admin/keys`; `rotate` keeps the old key for `config.rotateOverlapSeconds`
 * unless the call names an overlap.
 *
 * @example
 * ```ts
 * const router = createRouter<AdminHandler>(keyRoutes(keyService, config));
 * ```
 */
export function keyRoutes(keyService: KeyService, config: Pick<ServerConfig, 'rotateOverlapSeconds'>): AdminRoutes {
  return [
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/keys',
      handler: async ({ path, query }) => {
        const { limit, cursor } = pageParameters(query, 'after');
        const order = query.get('order') ?? 'oldest';
        if (order !== 'oldest' && order !== 'newest') {
          throw new HttpError('invalid_request', 'order must be oldest or newest');
        }
        const page = await keyService.listKeys({
          principal: query.get('principal') || undefined,
          keyId: query.get('keyId') || undefined,
          includeRevoked: query.get('all') === 'true',
          order,
          limit,
          ...(cursor !== undefined ? { after: cursor } : {}),
        });
        return ok(200, page.items.map(keyView), nextLink(path, query, 'after', page.next));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys',
      handler: async ({ body, actor }) => {
        const input = parseJson(createKeyBody, body);
        const issued = await keyService.createKey({
          principal: input.principal,
          scopes: input.scopes,
          algorithm: input.algorithm as HashAlgorithm,
          label: input.label,
          expiresInSeconds: input.expiresIn,
          rateLimit: input.rateLimit,
          actor,
        });
        return ok(201, issuedKeyView(issued));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys/import',
      handler: async ({ body, actor }) => {
        const input = parseJson(importKeyBody, body);
        const secret = importedSecretBytes(input.secret, input.encoding);
        try {
          const key = await keyService.importKey({
            principal: input.principal,
            keyId: input.keyId,
            secret,
            algorithm: input.algorithm,
            scopes: input.scopes,
            label: input.label,
            rateLimit: input.rateLimit,
            actor,
          });
          // The secret is the clients' own: never echoed.
          return ok(201, keyView(key));
        } finally {
          secret.fill(0);
        }
      },
    },
    {
      name: 'admin',
      methods: ['GET'],
      path: '/v1/admin/keys/{keyId}',
      handler: async ({ params }) => {
        const key = await keyService.getKey(params.keyId as string);
        if (!key) throw new HttpError('key_not_found', `no key ${params.keyId}`);
        return ok(200, keyView(key));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys/{keyId}/revoke',
      handler: async ({ params, body, actor }) => {
        const { reason } = parseJson(revokeBody, body);
        return ok(200, keyView(await keyService.revokeKey(params.keyId as string, { reason, actor })));
      },
    },
    {
      name: 'admin',
      methods: ['POST'],
      path: '/v1/admin/keys/{keyId}/rotate',
      handler: async ({ params, body, actor }) => {
        const input = parseJson(rotateBody, body);
        const rotated = await keyService.rotateKey(params.keyId as string, {
          overlapSeconds: input.overlap ?? config.rotateOverlapSeconds,
          label: input.label,
          actor,
        });
        return ok(201, { ...issuedKeyView(rotated), previous: keyView(rotated.previous) });
      },
    },
  ];
}
