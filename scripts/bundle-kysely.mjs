// After `tsc -b` (root `npm run build`, the vitest global setup, the keys package's prepack):
// replaces packages/keys/dist/sql/kysely-runtime.js, tsc's plain re-export of kysely, with one
// file that bundles exactly those exports (esbuild, tree-shaken, not minified). Node loads kysely's
// own build module by module (262 files, ~0.2 s of CPU per process, more than the rest of a store
// command); one file loads in ~0.04 s. Without this step the re-export works the same, only slower,
// so a build that skips it (esbuild missing) still runs. The bundle's first line names the kysely
// version and a hash of the source module: an unchanged pair is not bundled again.
//   node scripts/bundle-kysely.mjs        (from any folder)
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const keysPackage = fileURLToPath(new URL('../packages/keys/', import.meta.url));
const source = join(keysPackage, 'src/sql/kysely-runtime.ts');
const output = join(keysPackage, 'dist/sql/kysely-runtime.js');

if (!existsSync(output)) {
  process.stderr.write(`bundle-kysely: ${output} not built (run tsc -b first); nothing to do\n`);
  process.exit(0);
}
// kysely's package.json is not in its `exports`: find it from the entry point Node resolves.
const require = createRequire(join(keysPackage, 'package.json'));
const kyselyRoot = join(dirname(require.resolve('kysely')), '../..');
const kyselyVersion = JSON.parse(readFileSync(join(kyselyRoot, 'package.json'), 'utf8')).version;
const sourceHash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
const marker = `// hmac-kit: kysely ${kyselyVersion} bundled from src/sql/kysely-runtime.ts ${sourceHash}`;
if (readFileSync(output, 'utf8').startsWith(`${marker}\n`)) process.exit(0);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('bundle-kysely: esbuild is not installed; dist keeps the plain re-export of kysely\n');
  process.exit(0);
}
const licence = readFileSync(join(kyselyRoot, 'LICENSE'), 'utf8').trim();
const temporary = `${output}.${process.pid}.tmp`;
await esbuild.build({
  entryPoints: [source],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: temporary,
  write: true,
  logLevel: 'warning',
  banner: { js: `${marker}\n/*! kysely ${kyselyVersion} (https://github.com/kysely-org/kysely)\n${licence}\n*/` },
});
// One rename: a process starting meanwhile reads the old file or the new one, never half of one.
renameSync(temporary, output);
