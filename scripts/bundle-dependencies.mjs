// After `tsc -b` (root `npm run build`, the vitest global setup, the keys and server packages'
// prepack): replaces the output of each module below, tsc's plain re-export of a dependency, with
// one file that bundles exactly those exports (esbuild, tree-shaken, not minified). Node loads a
// dependency's own build module by module: kysely is 262 files (~0.2 s of CPU per process, more
// than the rest of a store command), zod 95 (~0.05 s of loading on top of its own start-up work);
// one file loads at a fraction of that. Without this step the re-export works the same, only
// slower, so a build that skips it (esbuild missing) still runs. Each bundle's first line names the
// dependency's version and a hash of the source module: an unchanged pair is not bundled again.
//   node scripts/bundle-dependencies.mjs [keys|server]     (from any folder; default: every bundle)
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The re-export modules whose output is replaced: package folder, source module, the dependency it
 * re-exports. The banner names the version and licence of every package whose files went into the
 * bundle (the dependency's own dependencies too, from esbuild's metafile). A CommonJS dependency
 * (`commonjs`) gets a `require` made with createRequire: esbuild's ES-module output cannot call
 * Node's built-ins otherwise. `alsoFrom`: the workspace's own modules the source module re-exports,
 * which go into the bundle too (and into the marker's hash, so a change to them bundles again).
 */
const BUNDLES = [
  { workspace: 'keys', module: 'src/sql/kysely-runtime.ts', dependency: 'kysely' },
  // zod-runtime.ts re-exports zod-api.ts (the values the server uses): both go into the bundle.
  { workspace: 'server', module: 'src/zod-runtime.ts', dependency: 'zod', alsoFrom: ['src/zod-api.ts'] },
  {
    workspace: 'server',
    module: 'src/prom-client-runtime.ts',
    dependency: 'prom-client',
    commonjs: true,
  },
  {
    workspace: 'server',
    module: 'src/pino-runtime.ts',
    dependency: 'pino',
    commonjs: true,
  },
];

/** The folder holding `dependency`'s package.json (not always in its `exports`), found from its entry point. */
function packageRoot(require, dependency) {
  let folder = dirname(require.resolve(dependency));
  while (!existsSync(join(folder, 'package.json')) || readPackage(folder).name !== dependency) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error(`bundle-dependencies: no package.json of ${dependency}`);
    folder = parent;
  }
  return folder;
}

function readPackage(folder) {
  return JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
}

let esbuild;
const only = process.argv[2];
for (const { workspace, module, dependency, commonjs = false, alsoFrom = [] } of BUNDLES) {
  if (only !== undefined && only !== workspace) continue;
  const packageFolder = fileURLToPath(new URL(`../packages/${workspace}/`, import.meta.url));
  const source = join(packageFolder, module);
  const output = join(packageFolder, module.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'));
  if (!existsSync(output)) {
    process.stderr.write(`bundle-dependencies: ${output} not built (run tsc -b first); skipped\n`);
    continue;
  }
  const root = packageRoot(createRequire(join(packageFolder, 'package.json')), dependency);
  const version = readPackage(root).version;
  const sourceHash = [source, ...alsoFrom.map((file) => join(packageFolder, file))]
    .reduce((hash, file) => hash.update(readFileSync(file)), createHash('sha256'))
    .digest('hex')
    .slice(0, 16);
  const marker = `// hmac-kit: ${dependency} ${version} bundled from ${module} ${sourceHash}`;
  if (readFileSync(output, 'utf8').startsWith(`${marker}\n`)) continue;
  try {
    esbuild ??= await import('esbuild');
  } catch {
    process.stderr.write('bundle-dependencies: esbuild is not installed; dist keeps the plain re-exports\n');
    process.exit(0);
  }
  const temporary = `${output}.${process.pid}.tmp`;
  const built = await esbuild.build({
    entryPoints: [source],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile: temporary,
    write: false,
    metafile: true,
    logLevel: 'warning',
  });
  // The packages whose files are in the bundle: the last node_modules/<name>/ of each input path.
  const folders = new Map();
  for (const input of Object.keys(built.metafile.inputs)) {
    const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
    if (match) folders.set(resolvePath(match[1]), match[2]);
  }
  const licences = [...folders].map(([folder, name]) => {
    const manifest = readPackage(folder);
    const file = readdirSync(folder).find((entry) => /^licen[cs]e(\.|$)/i.test(entry));
    const text = file
      ? readFileSync(join(folder, file), 'utf8').trim()
      : `(no licence file; package.json says ${manifest.license})`;
    return `/*! ${name} ${manifest.version} (${manifest.license} licence)\n${text.replaceAll('*/', '* /')}\n*/`;
  });
  const header = [
    marker,
    ...licences,
    ...(commonjs
      ? [
          "import { createRequire as __hmacKitCreateRequire } from 'node:module';",
          'const require = __hmacKitCreateRequire(import.meta.url);',
        ]
      : []),
  ].join('\n');
  writeFileSync(temporary, `${header}\n${built.outputFiles[0].text}`);
  // One rename: a process starting meanwhile reads the old file or the new one, never half of one.
  renameSync(temporary, output);
}
