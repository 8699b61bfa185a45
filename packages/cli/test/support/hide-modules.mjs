// `node --import ./hide-modules.mjs`: packages named in HMAC_KIT_TEST_HIDE_MODULES (comma-separated)
// cannot be resolved, as when an optional peer dependency is not installed.
import { register } from 'node:module';

const hidden = (process.env.HMAC_KIT_TEST_HIDE_MODULES ?? '').split(',').filter(Boolean);
register(
  `data:text/javascript,${encodeURIComponent(`
    const hidden = ${JSON.stringify(hidden)};
    export async function resolve(specifier, context, next) {
      if (hidden.includes(specifier)) {
        const error = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
        error.code = 'ERR_MODULE_NOT_FOUND';
        throw error;
      }
      return next(specifier, context);
    }
  `)}`,
);
