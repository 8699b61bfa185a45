/**
 * The build's one-file kysely (scripts/bundle-kysely.mjs replaces dist/sql/kysely-runtime.js, which
 * the CLI and server processes load): it must hand out what the source module hands out, from the
 * kysely version installed, and load nothing of kysely's own files. The processes' tests (store
 * commands, `serve` on SQLite and PostgreSQL, the installed tarballs) run the bundle itself.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as fromSource from '../src/sql/kysely-runtime.js';

const bundlePath = fileURLToPath(new URL('../dist/sql/kysely-runtime.js', import.meta.url));
const bundleText = readFileSync(bundlePath, 'utf8');
const marker = /^\/\/ hmac-kit: kysely (\S+) bundled from src\/sql\/kysely-runtime\.ts [0-9a-f]{16}\n/.exec(bundleText);

describe.skipIf(marker === null)('the bundled kysely in dist (built by the vitest global setup)', () => {
  it('exports what the source re-export exports, as working values', async () => {
    const bundled = (await import(bundlePath)) as typeof fromSource;
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(fromSource).sort());
    // A query compiled by the bundle's classes is the query kysely itself compiles.
    const query = bundled.sql`select ${1} as one`.compile(
      new bundled.Kysely<Record<string, never>>({ dialect: new bundled.SqliteDialect({ database: {} as never }) }),
    );
    expect(query.sql).toBe('select ? as one');
    expect(query.parameters).toEqual([1]);
  });

  it('is built from the installed kysely and imports none of its files', () => {
    const require = createRequire(fileURLToPath(new URL('../package.json', import.meta.url)));
    const kyselyRoot = join(dirname(require.resolve('kysely')), '../..');
    const installed = (JSON.parse(readFileSync(join(kyselyRoot, 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(marker?.[1]).toBe(installed);
    // Statements only: kysely's doc comments, kept in the bundle, show `import { sql } from 'kysely'`.
    expect(bundleText).not.toMatch(/^\s*(?:import|export)\b[^\n]*['"]kysely['"/]|[^*\n]\bimport\(\s*['"]kysely/m);
  });
});
