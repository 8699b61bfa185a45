/**
 * The runtime values this package takes from kysely, in one module. The build
 * (`scripts/bundle-dependencies.mjs`, after `tsc -b`) replaces this module's output with a single-file
 * bundle of exactly these exports: Node loads kysely's own build file by file (262 modules) and
 * that cost ~0.2 s of CPU on every `hmac-kit` store command and every `hmac-kit serve` start,
 * about as much as everything else they load. Types still come from 'kysely' itself; without the
 * bundle (a build that skipped the step, tests on source) this plain re-export does the same.
 */
export { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
