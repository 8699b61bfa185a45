import { randomBytes } from 'node:crypto';
import { loadConfig, type RawConfig, type RunningServer, type StartOptions, startServer } from '@hmac-kit/server';
import { startRawUpstream } from './raw-http.js';

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
export async function startInProcess(
  flags: RawConfig = {},
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = loadConfig({
    flags: {
      port: 0,
      database: ':memory:',
      masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
      logLevel: 'silent',
      // The gateway suites run against either upstream client (HMAC_KIT_TEST_UPSTREAM_CLIENT=builtin).
      ...testUpstreamClient(),
      ...flags,
    },
    env,
  });
  return startServer(config, options);
}

/**
 * `{ upstreamClient }` from `HMAC_KIT_TEST_UPSTREAM_CLIENT` (undici or builtin), so that every test
 * starting a gateway runs against the client it names; `{}` without it (the default client).
 *
 * @example
 * ```ts
 * loadConfig({ flags: { ...testUpstreamClient(), upstream } });
 * ```
 */
export function testUpstreamClient(): { upstreamClient?: string } {
  const client = process.env.HMAC_KIT_TEST_UPSTREAM_CLIENT;
  return client ? { upstreamClient: client } : {};
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

/** An in-process rfc9421 gateway in front of a raw upstream (which records the bytes it receives), with one key. */
export interface RawUpstreamGateway {
  upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  server: RunningServer;
  key: { keyId: string; secret: string };
  /** Stops the gateway, then the upstream. */
  close(): Promise<void>;
}

/**
 * Starts a raw upstream, an in-process gateway (`--schemes rfc9421`, plus any further `flags`) in
 * front of it, and issues a key to `principal`: the fixture of the "verify one thing, forward
 * another" attacks. Whatever started is stopped again when a later step fails.
 *
 * @example
 * const { server, upstream, key, close } = await startRawUpstreamGateway('body-rule');
 */
export async function startRawUpstreamGateway(principal: string, flags: RawConfig = {}): Promise<RawUpstreamGateway> {
  const upstream = await startRawUpstream();
  let server: RunningServer | undefined;
  try {
    server = await startInProcess({ upstream: upstream.url, schemes: 'rfc9421', ...flags });
    const key = await issueKey(server, principal);
    const running = server;
    return {
      upstream,
      server,
      key,
      close: async () => {
        await running.close();
        await upstream.close();
      },
    };
  } catch (error) {
    await server?.close();
    await upstream.close();
    throw error;
  }
}
