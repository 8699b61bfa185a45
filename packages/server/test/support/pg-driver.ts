/**
 * Loads `pg` for tests. Vitest starts its workers with `--conditions import` (from the root
 * resolve conditions), so pg's CommonJS `require('pg-pool')` picks pg-pool's ESM build and
 * gets a module namespace instead of the Pool class ("Class extends value [object Module]").
 * Pre-seeding the require cache with pg-pool's CommonJS build under the ESM path sidesteps
 * it without touching the shared config. (A root fix: drop 'import'/'module' from the
 * conditions vitest passes to Node.)
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type pgTypes from 'pg';

const require = createRequire(import.meta.url);
const poolEntry = require.resolve('pg-pool');
if (poolEntry.endsWith('.mjs') && !require.cache[poolEntry]) {
  const commonJs = require(join(dirname(poolEntry), '..', 'index.js')) as unknown;
  require.cache[poolEntry] = { id: poolEntry, filename: poolEntry, loaded: true, exports: commonJs } as NodeJS.Module;
}

/** The `pg` module (default export shape). */
export const pg = require('pg') as typeof pgTypes;
