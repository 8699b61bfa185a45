// Packs every published workspace package once for as long as what goes into the tarballs is
// unchanged, for the tests that need the real tarballs (test/packaging/install.test.ts, metadata.test.ts,
// packages/server/test/openapi-package.test.ts). Run under the build lock (prepack runs `tsc -b`):
//   flock /tmp/hmac-kit-server-tests-build.lock node test-support/pack-published.mjs
// Prints the folder holding the tarballs and pack.json (`npm pack --json`'s answer). The folder is named
// by a hash of every file a prepack reads or packs (the packages without their tests and node_modules,
// the console page's sources, docs/openapi.yaml, the prepack scripts, the tsconfigs, the lockfile for
// what the console page bundles) and of the node and npm versions: the same inputs pack the same
// tarballs, so a second file of the same run (or a later run with nothing changed) reuses them
// instead of paying ~15 s of CPU for `npm pack` again.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CACHE = join(ROOT, 'node_modules/.cache/hmac-kit/packed');
// Never inputs of a tarball: dependencies, tests, build caches.
const SKIPPED = new Set(['node_modules', 'test', '.tsbuildinfo', 'tsconfig.tsbuildinfo']);
// The server's prepack rebuilds the console page from packages/console (hashed) into dist/console, and
// that build differs from the one `npm run build:console` leaves there: hashing it would make every
// pack change the key it was made under.
const REBUILT = new Set([join(ROOT, 'packages/server/dist/console')]);

function walk(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (SKIPPED.has(entry.name) || REBUILT.has(path)) continue;
    if (entry.isDirectory()) walk(path, found);
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const published = root.workspaces.filter(
  (dir) => !JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')).private,
);
/** The version of the npm on PATH, read from its package.json (`npm --version` would cost a process). */
function npmVersion() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const bin = join(dir, 'npm');
    if (!existsSync(bin)) continue;
    const manifest = join(dirname(realpathSync(bin)), '..', 'package.json');
    if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')).version;
  }
  return 'unknown';
}

const hash = createHash('sha256').update(`node ${process.version} npm ${npmVersion()}\n`);
const inputs = [
  ...root.workspaces.flatMap((dir) => walk(join(ROOT, dir))),
  ...[
    'package.json',
    'package-lock.json',
    'LICENSE',
    'docs/openapi.yaml',
    'scripts/prune-dist.mjs',
    'scripts/copy-openapi.mjs',
  ].map((file) => join(ROOT, file)),
  ...readdirSync(ROOT)
    .filter((name) => /^tsconfig.*\.json$/.test(name))
    .map((name) => join(ROOT, name)),
].sort();
for (const file of inputs) {
  hash
    .update(`${relative(ROOT, file)}\0`)
    .update(readFileSync(file))
    .update('\0');
}
const target = join(CACHE, hash.digest('hex').slice(0, 32));

if (!existsSync(join(target, 'pack.json'))) {
  mkdirSync(CACHE, { recursive: true });
  // Older entries are earlier states of the tree; one packed an hour ago is no longer in use by any run.
  for (const name of readdirSync(CACHE)) {
    const entry = join(CACHE, name);
    if (Date.now() - statSync(entry).mtimeMs > 3_600_000) rmSync(entry, { recursive: true, force: true });
  }
  const partial = `${target}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  const stdout = execFileSync(
    'npm',
    ['pack', '--json', '--pack-destination', partial, ...published.flatMap((dir) => ['--workspace', dir])],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  writeFileSync(join(partial, 'pack.json'), stdout);
  renameSync(partial, target);
}
process.stdout.write(`${target}\n`);
