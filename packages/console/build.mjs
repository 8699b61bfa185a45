// `npm run build` of the console page (root `npm run build:console`, and @hmac-kit/server's prepack): Vite
// builds the page into a staging folder, then its files are moved into @hmac-kit/server's dist/console one
// by one (a rename replaces a file atomically), the assets before index.html, and files of an older build
// that the new one lacks are removed last. A reader of dist/console (a running `hmac-kit serve`, a test
// file while `npm pack` rebuilds the page for the tarballs) thus always finds a whole page: Vite's own
// emptyOutDir deleted the folder and wrote it again, leaving it empty or half-written meanwhile.
// Like `tsc -b`, it builds only when something changed: each build records the files Vite read (its module
// graph: the page's sources, the core's and the server's modules it bundles, Preact) and when it started;
// a later run whose outputs are all there and whose inputs are all older than that start skips Vite.
// `npm test` builds the page before vitest, and `npm pack` of @hmac-kit/server (the packaging tests)
// then found it up to date instead of building it again (~3.5 s of CPU).
//   node build.mjs            (from packages/console; what `npm run build` runs)
//   node build.mjs --force    (builds whatever the record says)
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = join(here, '../server/dist/console');
// Beside the repository's other caches: on the same file system as dist/ (rename), never packed or committed.
const cache = join(here, '../../node_modules/.cache/hmac-kit');
const staging = join(cache, `console-build-${process.pid}`);
/** What the last build read and wrote, and when it started (`{ startedMs, inputs, outputs }`). */
const record = join(cache, 'console-build.json');
/** Inputs whatever Vite's module graph says: the build's own files and the dependency versions. */
const ALWAYS_READ = [
  'build.mjs',
  'vite.config.ts',
  'index.html',
  'package.json',
  'tsconfig.json',
  '../../tsconfig.base.json',
  '../../package-lock.json',
].map((file) => join(here, file));

/** Every file below `dir`, as paths relative to it. */
function filesBelow(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

/** Whether the page in outDir is the last build's and nothing it was built from changed since that build started. */
function upToDate() {
  if (process.argv.includes('--force') || !existsSync(record)) return false;
  let last;
  try {
    last = JSON.parse(readFileSync(record, 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(last.inputs) || !Array.isArray(last.outputs) || typeof last.startedMs !== 'number') return false;
  if (last.outputs.length === 0 || !last.outputs.every((file) => existsSync(join(outDir, file)))) return false;
  // A file the console package gained (not yet imported by anything the record names) is caught too.
  const inputs = [
    ...new Set([...last.inputs, ...ALWAYS_READ, ...filesBelow(join(here, 'src')).map((f) => join(here, 'src', f))]),
  ];
  return inputs.every((file) => existsSync(file) && statSync(file).mtimeMs < last.startedMs);
}

/**
 * A Vite plugin that collects every module of the build's graph (tree-shaken ones too: a re-exporting
 * index.ts decides what is bundled even when none of its code is) into `into`, as files on disk (virtual
 * modules and query suffixes dropped), with the package.json of each workspace package they belong to
 * (its `exports` resolve the imports).
 */
function recordModules(into) {
  return {
    name: 'hmac-kit:record-inputs',
    buildEnd() {
      for (const id of this.getModuleIds()) {
        const file = id.replace(/[?#].*$/, '');
        if (!isAbsolute(file) || !existsSync(file)) continue;
        into.add(file);
        const workspace = /^(.*\/packages\/[^/]+)\//.exec(file);
        if (workspace && !file.includes('/node_modules/')) into.add(join(workspace[1], 'package.json'));
      }
    },
  };
}

if (upToDate()) process.exit(0);

rmSync(staging, { recursive: true, force: true });
try {
  // Whole milliseconds, one early: a file written in the same millisecond as the start counts as newer.
  const startedMs = Math.floor(Date.now()) - 1;
  const { build } = await import('vite');
  const read = new Set();
  await build({
    configFile: join(here, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: staging, emptyOutDir: true },
    plugins: [recordModules(read)],
  });
  const inputs = [...read].sort();
  // No module graph (another Vite, another output shape): record nothing, so the next run builds.
  const usable = inputs.some((file) => file.startsWith(join(here, 'src')));
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
  // Replaced whole (rename): a concurrent run reads the old record or this one, never half of one.
  const partial = `${record}.${process.pid}`;
  if (usable) {
    writeFileSync(partial, JSON.stringify({ startedMs, inputs, outputs: built }, null, 1));
    renameSync(partial, record);
  } else {
    rmSync(record, { force: true });
  }
} finally {
  rmSync(staging, { recursive: true, force: true });
}
