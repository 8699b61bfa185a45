import { randomBytes } from 'node:crypto';
import { loadConfig, type RawConfig, type RunningServer, startServer } from '@hmac-kit/server';

/**
 * Starts `hmac-kit serve` inside the test process (source, not dist) on an in-memory SQLite
 * database, a random master key and a free port; logs off unless asked for.
 *
 * @example
 * ```ts
 * const server = await startInProcess({ schemes: 'rfc9421,django-hmac' });
 * const key = await server.services.keyService.createKey({ principal: 'alice' });
 * ```
 */
export async function startInProcess(flags: RawConfig = {}, env: Record<string, string> = {}): Promise<RunningServer> {
  const config = loadConfig({
    flags: {
      port: 0,
      database: ':memory:',
      masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
      logLevel: 'silent',
      ...flags,
    },
    env,
  });
  return startServer(config);
}

/** Creates a principal and an active key on a running in-process server. */
export async function issueKey(
  server: RunningServer,
  principal: string,
  scopes: string[] = [],
): Promise<{ keyId: string; secret: string; principal: string; scopes: string[] }> {
  const existing = await server.services.keyService.getPrincipal(principal);
  if (!existing) await server.services.keyService.createPrincipal({ name: principal, kind: 'service', actor: 'test' });
  const issued = await server.services.keyService.createKey({ principal, scopes, actor: 'test' });
  return { keyId: issued.key.keyId, secret: issued.secret, principal, scopes };
}
