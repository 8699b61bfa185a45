/**
 * Session 25, helper review25: adversarial review of fix25's shutdown cleanup (a failed start and
 * close() run every step through `closeInReverse`, the first error kept, the later ones logged by
 * `logCleanupFailure`; close() waits up to UPSTREAM_CLOSE_GRACE_MS for the upstream client after a
 * forced cut).
 *
 * 1. The new warning line logs a failed step's error message as it is: a store client's message
 *    naming its connection URL with the password in it (`redis://default:<password>@host`) put the
 *    password in the log (failing before the fix). Now the message is logged with every URL's
 *    password replaced by `***`, as `StoreInfo.location` shows a PostgreSQL URL.
 * 2. Pinned: the error a failed start throws is the one that made it fail for every kind of start
 *    failure (an unreadable certificate, a failing start-up step), never a later close failure.
 * 3. Pinned: an upstream client whose close() never resolves holds close() only up to
 *    --shutdown-timeout plus the grace (outcome forced, the warning logged), and a second close()
 *    returns the first's promise.
 *
 * Stand-ins (no real store, route set or upstream client fails on demand): `services.close()`
 * runs the real stores' close and then rejects; the gateway's creation throws; the builtin upstream
 * client's close() never resolves.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig, startServer } from '../../src/index.js';
import { withoutUrlPasswords } from '../../src/logger.js';
import { memoryLog as capture } from '../support/memory-log.js';

const stand = vi.hoisted(() => ({
  closeError: undefined as Error | undefined,
  closeCalls: 0,
  routesError: undefined as Error | undefined,
  upstreamNeverCloses: false,
}));

vi.mock('../../src/services.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/services.js')>();
  return {
    ...real,
    openServices: async (...args: Parameters<typeof real.openServices>) => {
      const services = await real.openServices(...args);
      const error = stand.closeError;
      if (error === undefined) return services;
      const close = services.close.bind(services);
      services.close = async () => {
        await close();
        stand.closeCalls++;
        throw error;
      };
      return services;
    },
  };
});

vi.mock('../../src/gateway.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/gateway.js')>();
  return {
    ...real,
    createGateway: (...args: Parameters<typeof real.createGateway>) => {
      if (stand.routesError) throw stand.routesError;
      return real.createGateway(...args);
    },
  };
});

vi.mock('../../src/upstream/client.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/upstream/client.js')>();
  return {
    ...real,
    createBuiltinClient: (...args: Parameters<typeof real.createBuiltinClient>) => {
      const client = real.createBuiltinClient(...args);
      if (!stand.upstreamNeverCloses) return client;
      client.close = () => new Promise<void>(() => {});
      return client;
    },
  };
});

afterEach(() => {
  stand.closeError = undefined;
  stand.closeCalls = 0;
  stand.routesError = undefined;
  stand.upstreamNeverCloses = false;
});

/** A gateway (its creation is the start-up step the tests make fail). */
const gateway = { upstream: 'http://127.0.0.1:9', upstreamClient: 'builtin' };

function configFor(flags: Record<string, unknown> = {}) {
  return loadConfig({
    flags: {
      port: 0,
      host: '127.0.0.1',
      database: ':memory:',
      masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
      logLevel: 'info',
      ...flags,
    },
    env: {},
  });
}

describe('review25: the cleanup warning never logs a password of a connection URL', () => {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const storeError = () =>
    new Error(
      `Connection is closed (redis://default:${password}@redis.internal:6379/0, postgres://app:${password}@db:5432/keys)`,
    );

  it('close(): a store close failing with its URL (and password) in the message', async () => {
    const log = capture();
    stand.closeError = storeError();
    const running = await startServer(configFor(), { logger: log.logger });
    await expect(running.close()).rejects.toBe(stand.closeError);
    const warning = log.lines().find((line) => line.msg === 'a shutdown step failed (the later steps still ran)');
    expect(warning).toBeDefined();
    expect(log.text()).not.toContain(password);
    // What is not secret stays, for the operator.
    const message = (warning?.err as { message?: string } | undefined)?.message;
    expect(message).toContain('redis://default:***@redis.internal:6379/0');
    expect(message).toContain('postgres://app:***@db:5432/keys');
  });

  it('a failed start (a start-up step failing) whose store close fails with its URL in the message', async () => {
    const log = capture();
    stand.closeError = storeError();
    stand.routesError = new Error('routes: cannot build');
    await expect(startServer(configFor(gateway), { logger: log.logger })).rejects.toBe(stand.routesError);
    expect(stand.closeCalls).toBe(1);
    expect(log.lines().some((line) => line.msg === 'a shutdown step failed (the later steps still ran)')).toBe(true);
    expect(log.text()).not.toContain(password);
  });
});

describe('review25: withoutUrlPasswords', () => {
  const part = (excluded: RegExp, minLength = 0) =>
    fc.string({ minLength, maxLength: 12 }).filter((text) => !excluded.test(text));
  it('takes out the password of a URL anywhere in a text, and nothing else', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('redis', 'rediss+cluster', 'postgres', 'https'),
        part(/[\s:@/?#]/),
        part(/[\s/?#]/, 1),
        part(/[\s@]/),
        fc.constantFrom('', '/0', '?x=1', ' and more'),
        (scheme, user, password, host, tail) => {
          const secret = `SECRET${password}`;
          const text = `failed: ${scheme}://${user}:${secret}@${host}${tail}`;
          const out = withoutUrlPasswords(text);
          expect(out).toBe(`failed: ${scheme}://${user}:***@${host}${tail}`);
          expect(out).not.toContain('SECRET');
        },
      ),
    );
  });
  it('leaves a text without a URL password as it is', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        if (!/:\/\/[^\s/?#@:]*:[^\s/?#]*@/.test(text)) expect(withoutUrlPasswords(text)).toBe(text);
      }),
    );
    for (const text of [
      'connect ECONNREFUSED 127.0.0.1:6379',
      'http://host:8080/x?mail=a@b',
      'redis://user@host:6379',
    ]) {
      expect(withoutUrlPasswords(text)).toBe(text);
    }
  });
});

describe('review25: a failed start throws what made it fail, whatever the cleanup met', () => {
  it('an unreadable TLS certificate, then the stores fail to close: the certificate error is thrown', async () => {
    const log = capture();
    stand.closeError = new Error('stores: close failed');
    const missing = `/nonexistent-review25-${randomBytes(4).toString('hex')}`;
    const started = startServer(configFor({ tlsCert: `${missing}.pem`, tlsKey: `${missing}.key` }), {
      logger: log.logger,
    });
    await expect(started).rejects.toThrow(/cannot read TLS (certificate|private key) .*ENOENT/);
    expect(stand.closeCalls).toBe(1);
  });

  it('a start-up step failing, then the stores fail to close: the step error is thrown', async () => {
    stand.closeError = new Error('stores: close failed');
    stand.routesError = new Error('routes: cannot build');
    await expect(startServer(configFor(gateway), { logger: capture().logger })).rejects.toBe(stand.routesError);
    expect(stand.closeCalls).toBe(1);
  });
});

describe('review25: close() is bounded and settles once', () => {
  it('an upstream client whose close() never resolves: close() resolves (forced) after the timeout and the grace', async () => {
    const log = capture();
    stand.upstreamNeverCloses = true;
    const running = await startServer(
      configFor({ upstream: 'http://127.0.0.1:9', upstreamClient: 'builtin', shutdownTimeout: '1s' }),
      { logger: log.logger },
    );
    const first = running.close();
    // Idempotent: the same promise, not a second shutdown.
    expect(running.close()).toBe(first);
    await expect(first).resolves.toEqual({ forced: true });
    const messages = log.lines().map((line) => line.msg);
    expect(messages).toContain('shutdown timeout: stores did not close in time, abandoning their connections');
    expect(messages).toContain('shutdown: upstream connections still open, not waited for');
    expect(messages.filter((msg) => msg === 'stopped')).toHaveLength(1);
  });
});
