/**
 * zod, as the server takes it: from this one module, whose output the build
 * (`scripts/bundle-dependencies.mjs`, after `tsc -b`) replaces with a single-file bundle. zod's own
 * build is 95 ES modules that Node loads one by one in every `hmac-kit serve` process (supervisor
 * and workers); without the bundle (tests on source, a build that skipped the step) this plain
 * re-export does the same. `z` is the namespace of `zod-api.ts`: the zod values the server uses and
 * every zod type, so the bundle holds only what those values need.
 */
export * as z from './zod-api.js';
