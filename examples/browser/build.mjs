// Bundles src/app.ts (and the core it imports, from source) into dist/app.js for index.html.
// Usage: node examples/browser/build.mjs [outdir]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Builds the page's script into `outdir` (default examples/browser/dist). */
export async function buildExample(outdir = join(here, 'dist')) {
  await build({
    entryPoints: [join(here, 'src/app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@hmac-kit/source'],
    outfile: join(outdir, 'app.js'),
    logLevel: 'warning',
  });
  return join(outdir, 'app.js');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await buildExample(process.argv[2]));
}
