import { join } from 'node:path';
import { openKeys } from '@hmac-kit/server/store';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess, tempDir } from '../../../test-support/processes.js';

// `keys list` and `principals list` read every page by default (keyset pages, so 100,000 keys cost
// 100 index seeks), or stop at --limit and say how to continue with --after.
describe('hmac-kit CLI: paged listings', () => {
  let dir: string;
  let db: string;
  /** Key ids newest first. */
  let newestFirst: string[];
  const cli = (args: string[]) => runCliInProcess(['--db', db, ...args], { cwd: dir });

  beforeAll(async () => {
    dir = tempDir();
    db = join(dir, 'keys.db');
    const opened = await openKeys({ database: db });
    try {
      for (const name of ['ops-alpha', 'ops-beta', 'billing']) {
        await opened.keyService.createPrincipal({ name, kind: 'service' });
      }
      for (let i = 0; i < 7; i++) await opened.keyService.createKey({ principal: i < 4 ? 'ops-alpha' : 'ops-beta' });
      newestFirst = (await opened.keyService.listKeys({ order: 'newest' })).items.map((key) => key.keyId);
    } finally {
      await opened.close();
    }
  });

  it('lists every key without --limit', async () => {
    const result = await cli(['--json', 'keys', 'list', '--newest-first']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect((JSON.parse(result.stdout) as Array<{ keyId: string }>).map((key) => key.keyId)).toEqual(newestFirst);
  });

  it('stops at --limit, prints how to continue, and --after continues where it stopped', async () => {
    const first = await cli(['--json', 'keys', 'list', '--newest-first', '--limit', '3']);
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as Array<{ keyId: string }>).map((key) => key.keyId)).toEqual(
      newestFirst.slice(0, 3),
    );
    const cursor = /^hmac-kit: more keys: continue with --after ([A-Za-z0-9_-]+)\n$/.exec(first.stderr)?.[1];
    expect(cursor).toBeDefined();
    const rest = await cli(['keys', 'list', '--newest-first', '--after', cursor as string]);
    expect(rest.code).toBe(0);
    expect(rest.stderr).toBe('');
    for (const keyId of newestFirst.slice(3)) expect(rest.stdout).toContain(keyId);
    for (const keyId of newestFirst.slice(0, 3)) expect(rest.stdout).not.toContain(keyId);
  });

  it('searches principals and pages them', async () => {
    const found = await cli(['--json', 'principals', 'list', '--search', 'OPS']);
    expect((JSON.parse(found.stdout) as Array<{ name: string }>).map((principal) => principal.name)).toEqual([
      'ops-alpha',
      'ops-beta',
    ]);
    const one = await cli(['--json', 'principals', 'list', '--limit', '1']);
    expect((JSON.parse(one.stdout) as Array<{ name: string }>).map((principal) => principal.name)).toEqual(['billing']);
    expect(one.stderr).toMatch(/^hmac-kit: more principals: continue with --after \S+\n$/);
  });

  it('refuses a bad --limit or --after with one line and exit code 2', async () => {
    for (const args of [
      ['keys', 'list', '--limit', '0'],
      ['keys', 'list', '--limit', 'many'],
      ['keys', 'list', '--after', 'garbage!'],
      ['keys', 'list', '--newest-first', '--after', 'eyJsIjoiayIsIm8iOiJvbGRlc3QiLCJjIjoxLCJrIjoiaGtfeCJ9'],
    ]) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^hmac-kit: invalid (limit|cursor)/);
    }
  });
});
