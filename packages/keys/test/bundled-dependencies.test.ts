/**
 * The build's one-file dependencies (scripts/bundle-dependencies.mjs replaces the output of
 * packages/keys/src/sql/kysely-runtime.ts and packages/server/src/{zod,prom-client,pino}-runtime.ts,
 * which the CLI and
 * server processes load): each must hand out what its source re-export hands out, from the version
 * installed, and load none of the dependency's own files. The processes' tests (store commands,
 * `serve` on SQLite and PostgreSQL, config errors, the installed tarballs) run the bundles themselves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as pinoFromSource from '../../server/src/pino-runtime.js';
import * as promClientFromSource from '../../server/src/prom-client-runtime.js';
import * as zodFromSource from '../../server/src/zod-runtime.js';
import * as kyselyFromSource from '../src/sql/kysely-runtime.js';

/**
 * What each bundle must do as its dependency does (one check per bundle, so nothing is skipped):
 * `path` is the bundle's file in dist, `text` its content.
 */
const behaviour = {
  /** kysely: compiles a query as kysely does. */
  async kysely(path: string): Promise<void> {
    const bundled = (await import(path)) as typeof kyselyFromSource;
    const query = bundled.sql`select ${1} as one`.compile(
      new bundled.Kysely<Record<string, never>>({ dialect: new bundled.SqliteDialect({ database: {} as never }) }),
    );
    expect(query.sql).toBe('select ? as one');
    expect(query.parameters).toEqual([1]);
  },
  /** zod: accepts and refuses as zod does, with English messages; holds no other locale (zod-api.ts). */
  async zod(path: string, text: string): Promise<void> {
    const { z } = (await import(path)) as typeof zodFromSource;
    const schema = (zod: typeof z) => zod.object({ port: zod.number().int().min(0) }).strict();
    const input = { port: -1.5, extra: true };
    expect(schema(z).safeParse(input).error?.issues).toEqual(schema(zodFromSource.z).safeParse(input).error?.issues);
    expect(schema(z).parse({ port: 8080 })).toEqual({ port: 8080 });
    expect(schema(z).safeParse({ port: 'x' }).error?.issues[0]?.message).toBe(
      'Invalid input: expected number, received string',
    );
    // Only the values the server uses (packages/server/src/zod-api.ts) are bundled: zod's `z` namespace
    // would bring all of zod, its 48 locales included, into every `serve` process.
    expect(text).toMatch(/^\/\/ node_modules\/zod\/v4\/locales\/en\.js$/m);
    expect(text).not.toMatch(/^\/\/ node_modules\/zod\/v4\/locales\/(?!en\.js$)/m);
  },
  /** prom-client: the same exposition, default metrics included; imports no @opentelemetry/api file. */
  async 'prom-client'(path: string, text: string): Promise<void> {
    const bundled = (await import(path)) as typeof promClientFromSource;
    const exposition = async (prom: typeof promClientFromSource) => {
      const registry = new prom.Registry();
      prom.collectDefaultMetrics({ register: registry });
      new prom.Counter({ name: 'x_total', help: 'x', labelNames: ['a'], registers: [registry] }).inc({ a: 'b' }, 2);
      const metrics = await registry.getMetricsAsJSON();
      return metrics.map((metric) => `${metric.name} ${metric.type}`).sort();
    };
    expect(await exposition(bundled)).toEqual(await exposition(promClientFromSource));
    expect(await bundled.AggregatorRegistry.aggregate([]).metrics()).toBe(
      await promClientFromSource.AggregatorRegistry.aggregate([]).metrics(),
    );
    // CommonJS bundled into an ES module: its require() of Node's built-ins goes through createRequire.
    expect(text).toMatch(/^const require = __hmacKitCreateRequire\(import\.meta\.url\);$/m);
    expect(text).not.toMatch(/^\s*(?:import|export)\b[^\n]*['"]@opentelemetry\/api['"/]/m);
  },
  /** pino: writes the lines pino writes, redaction included. */
  async pino(path: string): Promise<void> {
    const { pino } = (await import(path)) as typeof pinoFromSource;
    const lines = (make: typeof pino) => {
      const written: string[] = [];
      const logger = make(
        {
          base: { service: 'x' },
          timestamp: false,
          redact: { paths: ['secret', 'headers.authorization'], censor: '[redacted]' },
        },
        { write: (line: string) => written.push(line) },
      );
      logger.child({ reqId: 'r1' }).info({ secret: 's', headers: { authorization: 'a', host: 'h' }, n: 1 }, 'request');
      logger.warn(new Error('boom'));
      return written.map((line) => line.replace(/"stack":"[^"]*"/, '"stack":"-"'));
    };
    expect(lines(pino)).toEqual(lines(pinoFromSource.pino));
    expect(lines(pino)[0]).toContain('"secret":"[redacted]"');
    expect(Object.keys(pino.symbols).sort()).toEqual(Object.keys(pinoFromSource.pino.symbols).sort());
  },
} satisfies Record<string, (path: string, text: string) => Promise<void>>;

const bundles = [
  { dependency: 'kysely', workspace: 'keys', module: 'src/sql/kysely-runtime.ts', fromSource: kyselyFromSource },
  { dependency: 'zod', workspace: 'server', module: 'src/zod-runtime.ts', fromSource: zodFromSource },
  {
    dependency: 'prom-client',
    workspace: 'server',
    module: 'src/prom-client-runtime.ts',
    fromSource: promClientFromSource,
  },
  { dependency: 'pino', workspace: 'server', module: 'src/pino-runtime.ts', fromSource: pinoFromSource },
] as const;

function installedVersion(workspace: string, dependency: string): string {
  const packageJson = fileURLToPath(new URL(`../../${workspace}/package.json`, import.meta.url));
  let folder = dirname(createRequire(packageJson).resolve(dependency));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (manifest.name === dependency) return manifest.version;
    } catch {}
    folder = dirname(folder);
  }
}

describe.each(bundles)('the bundled $dependency in dist (built by the vitest global setup)', (bundle) => {
  const path = fileURLToPath(
    new URL(
      `../../${bundle.workspace}/${bundle.module.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js')}`,
      import.meta.url,
    ),
  );
  const text = readFileSync(path, 'utf8');
  const marker = new RegExp(
    `^// hmac-kit: ${bundle.dependency} (\\S+) bundled from ${bundle.module.replaceAll('.', '\\.')} [0-9a-f]{16}\\n`,
  ).exec(text);

  // The vitest global setup builds dist: a bundle without its marker line is a build that did not
  // bundle (the dependency's own files would load), a failure rather than a reason to skip.
  it('is the bundle of the installed version, exporting what the source re-export exports', async () => {
    expect(marker, `${path} lacks the bundle marker line`).not.toBeNull();
    const bundled = (await import(path)) as Record<string, unknown>;
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(bundle.fromSource).sort());
    expect(marker?.[1]).toBe(installedVersion(bundle.workspace, bundle.dependency));
    // Statements only: the doc comments kept in a bundle show imports such as `import { sql } from 'kysely'`.
    const own = new RegExp(
      `^\\s*(?:import|export)\\b[^\\n]*['"]${bundle.dependency}['"/]|[^*\\n]\\bimport\\(\\s*['"]${bundle.dependency}`,
      'm',
    );
    expect(text).not.toMatch(own);
  });

  it(`behaves as ${bundle.dependency} does`, async () => {
    await behaviour[bundle.dependency](path, text);
  });
});

describe('one copy of each bundled dependency per process', () => {
  // A module importing the dependency itself, beside the bundle, would load kysely's (or zod's) own
  // files again and hold a second copy (schemas and query builders from two copies do not mix).
  it.each(bundles)('$workspace/src takes $dependency values only from its re-export module', (bundle) => {
    const src = fileURLToPath(new URL(`../../${bundle.workspace}/src/`, import.meta.url));
    const valueImport = new RegExp(`^import (?!type )[^;]*from '${bundle.dependency}';`, 'm');
    const offenders = (readdirSync(src, { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts') && `src/${file}` !== bundle.module)
      .filter((file) => valueImport.test(readFileSync(join(src, file), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
