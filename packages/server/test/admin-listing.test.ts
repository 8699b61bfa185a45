import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { startInProcess } from './support/in-process.js';

// The admin API's listings page with keyset cursors: JSON arrays as before, the next page in a
// `Link: <...>; rel="next"` header (RFC 8288), bad paging parameters answered 400 problem+json.
describe('admin API listings: pagination', () => {
  let server: RunningServer;
  let admin: { keyId: string; secret: string };
  /** Key ids in listing order (creation time, then key id: several keys share a millisecond). */
  let created: string[] = [];

  beforeAll(async () => {
    server = await startInProcess({ maxKeys: 100 });
    const keys = server.services.keyService;
    await keys.createPrincipal({ name: 'root', kind: 'user' });
    const issued = await keys.createKey({ principal: 'root', scopes: ['admin'] });
    admin = { keyId: issued.key.keyId, secret: issued.secret };
    const made: Array<{ keyId: string; at: number }> = [];
    for (let p = 0; p < 6; p++) {
      await keys.createPrincipal({ name: `team-${p}`, kind: 'service' });
      for (let k = 0; k < 9; k++) {
        const { key } = await keys.createKey({ principal: `team-${p}` });
        made.push({ keyId: key.keyId, at: key.createdAt.getTime() });
      }
    }
    created = made.sort((a, b) => a.at - b.at || (a.keyId < b.keyId ? -1 : 1)).map((key) => key.keyId);
    // The admin key was made first, but may share its millisecond with the first team key.
    expect(issued.key.createdAt.getTime()).toBeLessThanOrEqual(made[0]!.at);
  });

  afterAll(async () => {
    await server?.close();
  });

  const get = async (path: string) =>
    send(await signed(admin, 'GET', `${server.url}${path}`), { 'x-forwarded-for': freshAddress() });

  /** Follows `rel="next"` links from `path`; resolves every page's body. */
  async function follow(path: string): Promise<Array<Array<Record<string, unknown>>>> {
    const pages: Array<Array<Record<string, unknown>>> = [];
    let next: string | undefined = path;
    while (next) {
      const result = await get(next);
      expect(result.status).toBe(200);
      pages.push(result.body as unknown as Array<Record<string, unknown>>);
      const link = result.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
      if (link) expect(next).toBeDefined();
    }
    return pages;
  }

  it('pages every key once, newest first, following Link headers', async () => {
    const pages = await follow('/v1/admin/keys?order=newest&limit=20');
    expect(pages.map((page) => page.length)).toEqual([20, 20, 15]);
    const ids = pages.flat().map((key) => key.keyId);
    expect(ids.filter((id) => id !== admin.keyId)).toEqual([...created].reverse());
    expect(ids).toHaveLength(created.length + 1);
    expect(JSON.stringify(pages)).not.toMatch(/hks_|secret/);
  });

  it('filters by principal and by exact key id, and leaves revoked keys out unless asked', async () => {
    const teamZero = (await server.services.keyService.listKeys({ principal: 'team-0', includeRevoked: true })).items;
    const inOrder = created.filter((id) => teamZero.some((key) => key.keyId === id));
    await server.services.keyService.revokeKey(inOrder[0]!);
    const team = (await follow('/v1/admin/keys?principal=team-0&limit=4')).flat();
    expect(team.map((key) => key.keyId)).toEqual(inOrder.slice(1));
    const withRevoked = (await follow('/v1/admin/keys?principal=team-0&all=true&limit=4')).flat();
    expect(withRevoked.map((key) => key.keyId)).toEqual(inOrder);
    const one = await get(`/v1/admin/keys?keyId=${created[10]}`);
    expect((one.body as unknown as Array<{ keyId: string }>).map((key) => key.keyId)).toEqual([created[10]]);
    expect(one.headers.get('link')).toBeNull();
  });

  it('pages and searches principals', async () => {
    const pages = await follow('/v1/admin/principals?limit=3');
    expect(pages.flat().map((principal) => principal.name)).toEqual([
      'root',
      'team-0',
      'team-1',
      'team-2',
      'team-3',
      'team-4',
      'team-5',
    ]);
    const found = await get('/v1/admin/principals?search=AM-3');
    expect((found.body as unknown as Array<{ name: string }>).map((principal) => principal.name)).toEqual(['team-3']);
  });

  it('pages the audit trail newest first, filtered by event type', async () => {
    const pages = await follow('/v1/admin/audit?type=key.created&limit=25');
    const entries = pages.flat() as Array<{ id: number; type: string; keyId: string }>;
    expect(entries.every((entry) => entry.type === 'key.created')).toBe(true);
    // Newest first by audit id (the order keys were made in), the admin key's creation last.
    expect(entries).toHaveLength(created.length + 1);
    expect(entries.at(-1)?.keyId).toBe(admin.keyId);
    expect(new Set(entries.map((entry) => entry.keyId))).toEqual(new Set([...created, admin.keyId]));
    const ids = entries.map((entry) => entry.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const two = await get('/v1/admin/audit?type=principal.created,key.revoked&limit=100');
    expect(new Set((two.body as unknown as Array<{ type: string }>).map((entry) => entry.type))).toEqual(
      new Set(['principal.created', 'key.revoked']),
    );
  });

  it('answers malformed paging parameters with 400 problem+json, never a crash or a full listing', async () => {
    for (const path of [
      '/v1/admin/keys?limit=0',
      '/v1/admin/keys?limit=1001',
      '/v1/admin/keys?limit=ten',
      '/v1/admin/keys?order=sideways',
      '/v1/admin/keys?after=%7B%7D',
      '/v1/admin/keys?after=not-a-cursor',
      '/v1/admin/principals?after=eyJsIjoiayJ9',
      '/v1/admin/audit?before=-1',
      '/v1/admin/audit?type=key.exploded',
    ]) {
      const result = await get(path);
      expect(result.status, path).toBe(400);
      expect(result.headers.get('content-type')).toBe('application/problem+json');
      expect(result.body.code, path).toBe('invalid_request');
    }
  });
});
