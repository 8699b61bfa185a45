/**
 * pino, as the server takes its runtime value: from this one module, whose output the build
 * (`scripts/bundle-dependencies.mjs`, after `tsc -b`) replaces with a single-file bundle. pino and
 * the packages it loads are ~30 CommonJS modules that Node loaded one by one in every `hmac-kit
 * serve` process (supervisor and workers). The server writes through `pino.destination()`
 * (sonic-boom) and never starts a pino transport: a transport's worker thread is found next to
 * pino's own files (`__dirname`), which a bundle does not have. Types still come from 'pino'
 * itself; without the bundle (tests on source, a build that skipped the step) this plain re-export
 * does the same.
 */
export { pino } from 'pino';
