// `npm run build` of the console page (root `npm run build:console`, and @hmac-kit/server's prepack): Vite
// builds the page into a staging folder, then its files are moved into @hmac-kit/server's dist/console one
// by one (a rename replaces a file atomically), the assets before index.html, and files of an older build
// that the new one lacks are removed last. A reader of dist/console (a running `hmac-kit serve`, a test
// file while `npm pack` rebuilds the page for the tarballs) thus always finds a whole page: Vite's own
// emptyOutDir deleted the folder and wrote it again, leaving it empty or half-written meanwhile.
//   node build.mjs            (from packages/console; what `npm run build` runs)
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = join(here, '../server/dist/console');
// Beside the repository's other caches: on the same file system as dist/ (rename), never packed or committed.
const staging = join(here, '../../node_modules/.cache/hmac-kit', `console-build-${process.pid}`);

/** Every file below `dir`, as paths relative to it. */
function filesBelow(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

rmSync(staging, { recursive: true, force: true });
try {
  await build({
    configFile: join(here, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: staging, emptyOutDir: true },
  });
  const built = filesBelow(staging);
  // index.html last: whoever reads the new page finds the assets it names.
  built.sort((a, b) => Number(a === 'index.html') - Number(b === 'index.html'));
  for (const file of built) {
    mkdirSync(dirname(join(outDir, file)), { recursive: true });
    renameSync(join(staging, file), join(outDir, file));
  }
  const kept = new Set(built);
  for (const file of filesBelow(outDir)) {
    if (!kept.has(file)) rmSync(join(outDir, file));
  }
} finally {
  rmSync(staging, { recursive: true, force: true });
}
