// prepack of every published package (run in the package folder): deletes what tsc left in dist/
// from source files that no longer exist. `tsc -b` never removes outputs, so a module deleted or
// renamed in src/ would otherwise ship in the tarball (stale code that nothing tests).
//   node ../../scripts/prune-dist.mjs     (then tsc -b rebuilds what is missing)
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

const OUTPUT = /\.(?:d\.ts\.map|d\.ts|js\.map|js)$/;
// Built by other tools than tsc (the console page is bundled by Vite into dist/console/).
const FOREIGN = ['console'];

function walk(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!(dir === 'dist' && FOREIGN.includes(entry.name))) walk(path, found);
    } else if (OUTPUT.test(entry.name)) found.push(path);
  }
  return found;
}

if (existsSync('dist')) {
  for (const file of walk('dist')) {
    const stem = relative('dist', file).replace(OUTPUT, '');
    if (!['.ts', '.tsx', '.mts'].some((ext) => existsSync(join('src', stem + ext)))) {
      rmSync(file);
      process.stderr.write(`prune-dist: removed ${file} (no src/${stem}.ts)\n`);
    }
  }
}
