/**
 * The part of zod the server uses, as values (every zod type, for the declarations the schemas
 * produce): `zod-runtime.ts` hands it out as the namespace `z`. Listing the values lets the build's
 * bundle (`scripts/bundle-dependencies.mjs`, esbuild, tree-shaken) leave out what the server never
 * calls: zod's `z` namespace object holds all of zod, its 48 locales (`z.locales`; English, the
 * default, is registered by zod's own schema constructor), JSON Schema conversion and more, and a
 * bundle of a namespace keeps every member. 181 KB instead of 755 KB, parsed in every `hmac-kit
 * serve` process (supervisor and workers). A value the server starts to use is added here; the
 * compiler refuses `z.x` as a value until it is.
 */

export type * from 'zod';
export {
  array,
  boolean,
  enum,
  intersection,
  NEVER,
  number,
  object,
  string,
  union,
  unknown,
  ZodError,
  ZodType,
} from 'zod';
