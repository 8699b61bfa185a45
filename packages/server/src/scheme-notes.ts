import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';

/**
 * What an enabled scheme cannot protect, said once at start where an operator reads it. django-hmac's
 * signature covers the (re-serialised) body and a timestamp only: a captured request can be replayed
 * within the window against another method, path or query of the same key's reach, and the gateway
 * cannot tell (docs/protocol-django-hmac.md).
 *
 * @example
 * ```ts
 * logSchemeLimitations(config, logger);
 * ```
 */
export function logSchemeLimitations(config: Pick<ServerConfig, 'schemes' | 'upstream'>, logger: Logger): void {
  if (config.schemes.includes('django-hmac')) {
    logger.warn(
      {
        scheme: 'django-hmac',
        notCovered: ['method', 'path', 'query', 'headers'],
        covered: ['body (re-serialised)', 'timestamp'],
        ...(config.upstream ? { forwards: 'the re-serialised body the signature covers, not the bytes received' } : {}),
      },
      'django-hmac is enabled: its signature does not cover the method, path, query or headers, so a signed request can be sent again to another method or path within the time window; give such keys narrow scopes or use rfc9421',
    );
  }
}
