/**
 * Loads Express inside vitest workers.
 *
 * vitest starts its workers with `--conditions import` (from the `resolve.conditions` in
 * vitest.config.ts). On Node >= 20.19, where `require()` can load ES modules, that makes
 * Express's router `require('is-promise')` pick the package's ESM entry and receive a
 * namespace object instead of the function, so every request fails with
 * "isPromise is not a function". Outside vitest (plain Node, tsx) Express loads normally.
 * Until the shared config drops `import` from its conditions, seed the require cache with
 * the CommonJS entry before Express is loaded.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const routerRequire = createRequire(require.resolve('router'));
const resolved = routerRequire.resolve('is-promise');
if (resolved.endsWith('.mjs')) {
  const commonJs = routerRequire(resolved.replace(/\.mjs$/, '.js'));
  const cache = require.cache as Record<string, unknown>;
  cache[resolved] = { id: resolved, filename: resolved, loaded: true, exports: commonJs, children: [], paths: [] };
}

const loaded = await import('express');
export const express: typeof loaded.default = loaded.default;
