/**
 * Honest grades at start: each enabled scheme that protects less than the RFC 9421 profile is
 * named once in the log, with what it leaves open (docs/protocol-legacy.md has the full table).
 */
import { type DeclarativeSchemeDefinition, declarativeWeakness } from '@hmac-kit/core';
import type { SchemeName, ServerConfig } from './config.js';

/** One warning: the scheme and what it does not protect. */
export interface WeakSchemeWarning {
  scheme: string;
  unprotected: string;
}

/**
 * What each built-in scheme leaves open (`undefined`: as strong as the RFC 9421 profile; rfc9421, sigv4,
 * x-api and webhooks cover method, target and body). Every built-in name is listed (the type says so).
 * A type-only import of the config keeps this module light for the CLI.
 */
const BUILT_IN: Readonly<Record<SchemeName, string | undefined>> = {
  rfc9421: undefined,
  sigv4: undefined,
  'x-api': undefined,
  'standard-webhooks': undefined,
  'django-hmac':
    'signs neither the method, the path nor the query (nor any header): a captured signature can be replayed against another endpoint (with the same body) within the window; the signature is its only nonce. Bodies it does not sign are refused, and the gateway forwards the re-serialised body the signature covers, not the bytes received',
};

/**
 * The warnings `hmac-kit serve` logs at start, one per weak scheme enabled. Declarative schemes
 * contribute their own through `extra` (their grade is computed from their configuration).
 *
 * @example
 * ```ts
 * for (const warning of weakSchemeWarnings(config)) logger.warn(warning, 'weak scheme enabled');
 * ```
 */
export function weakSchemeWarnings(
  config: Pick<ServerConfig, 'schemes'>,
  extra: readonly WeakSchemeWarning[] = [],
): WeakSchemeWarning[] {
  const out: WeakSchemeWarning[] = [];
  for (const scheme of config.schemes) {
    const unprotected = BUILT_IN[scheme];
    if (unprotected) out.push({ scheme, unprotected });
  }
  return [...out, ...extra];
}

/**
 * What a scheme (as a verified request names it) leaves open, or `undefined` for a scheme as strong
 * as the RFC 9421 profile: the grade of the start-up warning. A declared scheme is graded from its
 * definition when `declared` holds it; without it (the CLI reading only the database) it is graded
 * weak, since every declared scheme exists to accept a legacy client.
 *
 * @example
 * ```ts
 * schemeWeakness('rfc9421'); // undefined
 * schemeWeakness('authorization-hmac', config.legacySchemes); // 'signs no time: ...'
 * ```
 */
export function schemeWeakness(
  scheme: string,
  declared: readonly DeclarativeSchemeDefinition[] = [],
): string | undefined {
  // Any name that is not built in is a declared scheme (config validation refuses built-in names).
  if (Object.hasOwn(BUILT_IN, scheme)) return BUILT_IN[scheme as SchemeName];
  const definition = declared.find((entry) => entry.name === scheme);
  return definition
    ? declarativeWeakness(definition)
    : 'a declared legacy scheme (its definition, in the server config, says what it leaves open)';
}
