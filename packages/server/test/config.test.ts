import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addressBucket,
  ConfigError,
  createProxyTrust,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_NONCE_CAPACITY,
  defaultMaxConnections,
  headersCheckIntervalMs,
  loadConfig,
  MAX_NONCE_CAPACITY,
  parseByteSize,
  parseDuration,
  prefixBucket,
} from '@hmac-kit/server';
import { parseRateLimit } from '@hmac-kit/server/units';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../test-support/processes.js';

describe('parseDuration / parseByteSize', () => {
  it('reads the documented units', () => {
    expect(parseDuration('90d')).toBe(90 * 86_400);
    expect(parseDuration('12h')).toBe(43_200);
    expect(parseDuration('30m')).toBe(1_800);
    expect(parseDuration('45s')).toBe(45);
    expect(parseDuration('2w')).toBe(1_209_600);
    expect(parseDuration('17')).toBe(17);
    expect(parseByteSize('10mb')).toBe(10 * 1024 * 1024);
    expect(parseByteSize('512kb')).toBe(512 * 1024);
    expect(parseByteSize('1000')).toBe(1000);
  });

  it('rejects anything else with a one-line TypeError', () => {
    for (const bad of ['9x', '', 'd', '-1d', '1.5.2h', '10 days']) {
      expect(() => parseDuration(bad)).toThrow(TypeError);
    }
    expect(() => parseDuration('9x')).toThrow('invalid duration "9x": use a number followed by s, m, h, d or w');
    expect(() => parseByteSize('10 parsecs')).toThrow(TypeError);
  });
});

describe('parseRateLimit', () => {
  it('reads requests/window from a string or a config object', () => {
    expect(parseRateLimit('100/1m')).toEqual({ limit: 100, windowSeconds: 60 });
    expect(parseRateLimit('10/30')).toEqual({ limit: 10, windowSeconds: 30 });
    expect(parseRateLimit({ limit: 5, window: '1h' })).toEqual({ limit: 5, windowSeconds: 3600 });
    expect(parseRateLimit({ limit: 5, window: 90 })).toEqual({ limit: 5, windowSeconds: 90 });
  });

  it('rejects a limit below one, a fraction, or a window under a second, with the example it is given', () => {
    for (const bad of ['lots', '0/1m', '1.5/1m', '10/0s', '10', '10/', '/1m', '10/1x']) {
      expect(() => parseRateLimit(bad)).toThrow(TypeError);
    }
    expect(() => parseRateLimit('lots')).toThrow('invalid rate limit "lots": use requests/window, e.g. 600/1m');
    expect(() => parseRateLimit({ limit: 0, window: '1m' })).toThrow('invalid rate limit "0/1m"');
    expect(() => parseRateLimit('lots', '100/1m')).toThrow('use requests/window, e.g. 100/1m');
  });
});

describe('loadConfig', () => {
  it('has working defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      database: './.hmac-kit/hmac-kit.db',
      schemes: ['rfc9421', 'sigv4', 'x-api'],
      maxAgeSeconds: 300,
      clockSkewSeconds: 5,
      rateLimit: { limit: 600, windowSeconds: 60 },
      maxBodyBytes: 10 * 1024 * 1024,
      upstreamTimeoutSeconds: 30,
      upstreamClient: 'auto',
      keepAliveTimeoutSeconds: 75,
      headersTimeoutSeconds: 30,
      maxConnections: defaultMaxConnections(),
      maxConnectionsPerAddress: Math.ceil(defaultMaxConnections() / 4),
      verifyPath: '/verify',
      trustedProxies: ['127.0.0.1', '::1'],
    });
    expect(config.redis).toBeUndefined();
    expect(config.upstream).toBeUndefined();
  });

  it('takes flags over HMAC_KIT_* variables over the config file', () => {
    const file = join(tempDir(), 'hmac-kit.json');
    writeFileSync(file, JSON.stringify({ port: 1111, host: '0.0.0.0', rateLimit: '10/1s', schemes: ['rfc9421'] }));
    const config = loadConfig({
      configFile: file,
      env: { HMAC_KIT_PORT: '2222', HMAC_KIT_REDIS_URL: 'redis://cache:6379', HMAC_KIT_SCHEMES: 'rfc9421,django-hmac' },
      flags: { port: '3333' },
    });
    expect(config.port).toBe(3333);
    expect(config.host).toBe('0.0.0.0');
    expect(config.redis).toBe('redis://cache:6379');
    expect(config.rateLimit).toEqual({ limit: 10, windowSeconds: 1 });
    expect(config.schemes).toEqual(['rfc9421', 'django-hmac']);
  });

  it('normalises the public origin and reads lists, durations and sizes', () => {
    const config = loadConfig({
      env: {},
      flags: {
        publicOrigin: 'https://api.example.com/prefix/',
        trustedProxies: '10.0.0.0/8, 192.168.1.1',
        maxAge: '2m',
        maxBody: '1mb',
        upstream: 'http://127.0.0.1:3000/base',
        upstreamTimeout: '5s',
        keepAliveTimeout: '2m',
        requireNonce: 'false',
      },
    });
    expect(config.keepAliveTimeoutSeconds).toBe(120);
    expect(config.publicOrigin).toBe('https://api.example.com/prefix');
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.1']);
    expect(config.maxAgeSeconds).toBe(120);
    expect(config.maxBodyBytes).toBe(1024 * 1024);
    expect(config.upstreamTimeoutSeconds).toBe(5);
    expect(config.requireNonce).toBe(false);
  });

  it("puts hmac-kit's own routes under /_hmac-kit in gateway mode unless told otherwise", () => {
    expect(loadConfig({ env: {} }).adminPrefix).toBe('');
    const upstream = 'http://127.0.0.1:3000';
    expect(loadConfig({ env: {}, flags: { upstream } }).adminPrefix).toBe('/_hmac-kit');
    expect(loadConfig({ env: {}, flags: { upstream, adminPrefix: '/' } }).adminPrefix).toBe('');
    expect(loadConfig({ env: { HMAC_KIT_ADMIN_PREFIX: '/ops/hmac/' }, flags: { upstream } }).adminPrefix).toBe(
      '/ops/hmac',
    );
    expect(loadConfig({ env: {}, flags: { adminPrefix: '/internal' } }).adminPrefix).toBe('/internal');
  });

  it('--upstream-allow-get-body: off by default, on by flag or HMAC_KIT_UPSTREAM_ALLOW_GET_BODY', () => {
    const upstream = 'http://127.0.0.1:3000';
    expect(loadConfig({ env: {}, flags: { upstream } }).upstreamAllowGetBody).toBe(false);
    expect(loadConfig({ env: {}, flags: { upstream, upstreamAllowGetBody: 'true' } }).upstreamAllowGetBody).toBe(true);
    expect(
      loadConfig({ env: { HMAC_KIT_UPSTREAM_ALLOW_GET_BODY: 'true' }, flags: { upstream } }).upstreamAllowGetBody,
    ).toBe(true);
  });

  it('--upstream-client: auto by default, undici or builtin by flag or HMAC_KIT_UPSTREAM_CLIENT; builtin refused with tracing', () => {
    const upstream = 'http://127.0.0.1:3000';
    expect(loadConfig({ env: {}, flags: { upstream } }).upstreamClient).toBe('auto');
    expect(loadConfig({ env: {}, flags: { upstream, upstreamClient: 'undici' } }).upstreamClient).toBe('undici');
    expect(loadConfig({ env: {}, flags: { upstream, upstreamClient: 'builtin' } }).upstreamClient).toBe('builtin');
    expect(loadConfig({ env: { HMAC_KIT_UPSTREAM_CLIENT: 'builtin' }, flags: { upstream } }).upstreamClient).toBe(
      'builtin',
    );
    // The builtin client has no tracing instrumentation: refused in one line rather than traced without the upstream call.
    const traced = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(() => loadConfig({ env: { ...traced, HMAC_KIT_UPSTREAM_CLIENT: 'builtin' }, flags: { upstream } })).toThrow(
      /--upstream-client builtin is not traced/,
    );
    // auto with tracing is accepted: it runs undici (upstream/choose.ts, auto21-upstream-client.test.ts).
    expect(loadConfig({ env: traced, flags: { upstream } }).upstreamClient).toBe('auto');
    expect(
      loadConfig({
        env: { ...traced, OTEL_SDK_DISABLED: 'true', HMAC_KIT_UPSTREAM_CLIENT: 'builtin' },
        flags: { upstream },
      }).upstreamClient,
    ).toBe('builtin');
  });

  it('fails with one clear line on the first bad setting', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ port: '70000' }, /invalid port "70000"/],
      [{ upstreamTimeout: '9x' }, /invalid upstream timeout "9x"/],
      [{ upstreamClient: 'curl' }, /invalid upstream client: expected auto, undici or builtin/],
      // 0 is Node's "never close an idle connection".
      [{ keepAliveTimeout: '0s' }, /invalid keep-alive timeout: between 1s and 1h/],
      [{ keepAliveTimeout: '2h' }, /invalid keep-alive timeout: between 1s and 1h/],
      // 0 was the hole: no bound at all on a request head.
      [{ headersTimeout: '0s' }, /invalid headers timeout: between 1s and 10m/],
      [{ headersTimeout: '1h' }, /invalid headers timeout: between 1s and 10m/],
      [{ headersTimeout: 'soon' }, /invalid headers timeout "soon"/],
      [{ maxConnections: '0' }, /invalid max connections "0": expected 1\.\.1000000/],
      [{ maxConnections: 'lots' }, /invalid max connections "lots": expected 1\.\.1000000/],
      [{ maxConnections: '1.5' }, /invalid max connections "1.5"/],
      [{ maxConnectionsPerAddress: '-1' }, /invalid max connections per address "-1": expected 1\.\.1000000/],
      [{ nonceCapacity: '0' }, /invalid nonce capacity "0": expected 1\.\.100000000/],
      [{ nonceCapacity: 'lots' }, /invalid nonce capacity "lots": expected 1\.\.100000000/],
      [{ nonceCapacity: '2.5' }, /invalid nonce capacity "2.5"/],
      [{ nonceCapacity: '100000001' }, /invalid nonce capacity "100000001"/],
      [{ nonceCapacity: '1e6' }, /invalid nonce capacity "1e6"/],
      [{ nonceCapacity: '5', redis: 'redis://cache:6379' }, /^nonce capacity .* does not apply with --redis/],
      [{ schemes: 'rfc9421,hawk' }, /invalid schemes: choose from rfc9421, sigv4, x-api, django-hmac/],
      [{ trustedProxies: 'not-an-ip' }, /invalid trusted proxies/],
      [{ upstream: 'ftp://x' }, /invalid upstream/],
      [{ redis: 'localhost:6379' }, /invalid redis URL/],
      [{ rateLimit: 'lots' }, /invalid rate limit "lots"/],
      [{ publicOrigin: 'api.example.com' }, /invalid public origin/],
      [{ verifyPath: 'verify' }, /invalid verify path/],
      [{ adminPrefix: '_hmac-kit' }, /invalid admin prefix/],
      [{ adminPrefix: '/a//b' }, /invalid admin prefix/],
      [{ adminPrefix: '/a?b' }, /invalid admin prefix/],
    ];
    for (const [flags, message] of cases) {
      let error: unknown;
      try {
        loadConfig({ env: {}, flags });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('names the variable or config file a bad setting came from (a forgotten export is no flag on the command line)', () => {
    const refusal = (sources: Parameters<typeof loadConfig>[0]): string => {
      try {
        loadConfig(sources);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal({ env: { HMAC_KIT_PORT: '99999' } })).toBe(
      'invalid port "99999": expected 0..65535 (from HMAC_KIT_PORT)',
    );
    expect(refusal({ env: { HMAC_KIT_UPSTREAM: 'not-a-url' } })).toMatch(
      /^invalid upstream: .* \(from HMAC_KIT_UPSTREAM\)$/,
    );
    const file = join(tempDir(), 'serve.json');
    writeFileSync(file, JSON.stringify({ port: 'x' }));
    expect(refusal({ env: {}, configFile: file })).toBe(`invalid port "x": expected 0..65535 (from ${file})`);
    // A flag wins, and is named by the user on the command line already: no suffix.
    expect(refusal({ env: { HMAC_KIT_PORT: '1' }, flags: { port: '70000' } })).toBe(
      'invalid port "70000": expected 0..65535',
    );
  });

  it('reports unknown keys and unreadable files in the config file', () => {
    const dir = tempDir();
    const unknown = join(dir, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ prot: 8080 }));
    expect(() => loadConfig({ env: {}, configFile: unknown })).toThrow('unknown setting "prot"');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ port: ');
    expect(() => loadConfig({ env: {}, configFile: broken })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ env: {}, configFile: join(dir, 'missing.json') })).toThrow(
      /cannot read config file .*ENOENT/,
    );
  });
});

describe('nonce capacity', () => {
  it('defaults to the memory store default, is read from flags, HMAC_KIT_NONCE_CAPACITY and the config file', async () => {
    const { MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES } = await import('@hmac-kit/limits');
    expect(DEFAULT_NONCE_CAPACITY).toBe(MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES);
    expect(MAX_NONCE_CAPACITY).toBe(100_000_000);
    expect(loadConfig({ env: {} }).nonceCapacity).toBe(1_000_000);
    const file = join(tempDir(), 'hmac-kit.json');
    writeFileSync(file, JSON.stringify({ nonceCapacity: 2_000_000 }));
    expect(loadConfig({ env: {}, configFile: file }).nonceCapacity).toBe(2_000_000);
    expect(loadConfig({ env: { HMAC_KIT_NONCE_CAPACITY: '3000000' }, configFile: file }).nonceCapacity).toBe(3_000_000);
    expect(
      loadConfig({ env: { HMAC_KIT_NONCE_CAPACITY: '3000000' }, configFile: file, flags: { nonceCapacity: '4' } })
        .nonceCapacity,
    ).toBe(4);
    expect(loadConfig({ env: {}, flags: { nonceCapacity: String(MAX_NONCE_CAPACITY) } }).nonceCapacity).toBe(
      MAX_NONCE_CAPACITY,
    );
  });

  it('does not apply with Redis: unset there, refused when given with it from any source', () => {
    expect(loadConfig({ env: { HMAC_KIT_REDIS_URL: 'redis://cache:6379' } }).nonceCapacity).toBeUndefined();
    const file = join(tempDir(), 'hmac-kit.json');
    writeFileSync(file, JSON.stringify({ nonceCapacity: 10, redis: 'redis://cache:6379' }));
    for (const sources of [
      { env: {}, configFile: file },
      { env: { HMAC_KIT_NONCE_CAPACITY: '10', HMAC_KIT_REDIS_URL: 'redis://cache:6379' } },
      { env: { HMAC_KIT_REDIS_URL: 'redis://cache:6379' }, flags: { nonceCapacity: '10' } },
    ]) {
      expect(() => loadConfig(sources)).toThrow(ConfigError);
      expect(() => loadConfig(sources)).toThrow(/does not apply with --redis/);
    }
  });
});

describe('connection limits', () => {
  it('are read from flags, HMAC_KIT_* variables and the config file like every setting', () => {
    const file = join(tempDir(), 'hmac-kit.json');
    writeFileSync(file, JSON.stringify({ maxConnections: 100, maxConnectionsPerAddress: 7, headersTimeout: '20s' }));
    expect(loadConfig({ env: {}, configFile: file })).toMatchObject({
      maxConnections: 100,
      maxConnectionsPerAddress: 7,
      headersTimeoutSeconds: 20,
    });
    const fromEnv = loadConfig({
      env: { HMAC_KIT_MAX_CONNECTIONS: '200', HMAC_KIT_HEADERS_TIMEOUT: '1m' },
      configFile: file,
    });
    expect(fromEnv).toMatchObject({ maxConnections: 200, maxConnectionsPerAddress: 7, headersTimeoutSeconds: 60 });
    const fromFlags = loadConfig({
      env: { HMAC_KIT_MAX_CONNECTIONS: '200', HMAC_KIT_MAX_CONNECTIONS_PER_ADDRESS: '9' },
      flags: { maxConnections: '300', maxConnectionsPerAddress: '10' },
    });
    expect(fromFlags).toMatchObject({ maxConnections: 300, maxConnectionsPerAddress: 10 });
    // The per-address default follows the total it is a quarter of.
    expect(loadConfig({ env: {}, flags: { maxConnections: '10' } }).maxConnectionsPerAddress).toBe(3);
    expect(loadConfig({ env: {}, flags: { maxConnections: '1' } }).maxConnectionsPerAddress).toBe(1);
  });

  it('default to 4096 connections, or half the open-file limit when that is lower', () => {
    const limits = (soft: string, hard = soft) =>
      `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63704                63704                processes \nMax open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     \n`;
    expect(DEFAULT_MAX_CONNECTIONS).toBe(4096);
    expect(defaultMaxConnections(limits('1024'))).toBe(512);
    expect(defaultMaxConnections(limits('1048576'))).toBe(4096);
    expect(defaultMaxConnections(limits('8192'))).toBe(4096);
    expect(defaultMaxConnections(limits('unlimited'))).toBe(4096);
    expect(defaultMaxConnections(limits('1'))).toBe(1);
    // The soft limit is what accept() runs into, not the hard one.
    expect(defaultMaxConnections(limits('2000', '1048576'))).toBe(1000);
    expect(defaultMaxConnections('no such line')).toBe(4096);
    expect(defaultMaxConnections()).toBeGreaterThanOrEqual(1);
  });

  it('count IPv4 peers by address and IPv6 peers by /64', () => {
    expect(addressBucket('10.0.0.1')).toBe('10.0.0.1');
    expect(addressBucket('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:0DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
  });

  it('count IPv6 peers also by /48, IPv4 ones not', () => {
    expect(prefixBucket('10.0.0.1')).toBeUndefined();
    expect(prefixBucket('::ffff:10.0.0.1')).toBeUndefined();
    expect(prefixBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1::/48');
    expect(prefixBucket('2001:0DB8:0001:ffff::9')).toBe('2001:db8:1::/48');
    expect(prefixBucket('2001:db8::1')).toBe('2001:db8:0::/48');
  });

  it('check request heads often enough to close a slow one at most a quarter past the timeout', () => {
    expect(headersCheckIntervalMs(1_000)).toBe(250);
    expect(headersCheckIntervalMs(30_000)).toBe(5_000);
    expect(headersCheckIntervalMs(200)).toBe(100);
  });
});

describe('createProxyTrust', () => {
  it('matches addresses and CIDR ranges, IPv4-mapped IPv6 included', () => {
    const trusted = createProxyTrust(['10.0.0.0/8', '::1', '192.168.1.7']);
    expect(trusted('10.20.30.40')).toBe(true);
    expect(trusted('::ffff:10.1.1.1')).toBe(true);
    expect(trusted('::1')).toBe(true);
    expect(trusted('192.168.1.7')).toBe(true);
    expect(trusted('192.168.1.8')).toBe(false);
    expect(trusted('11.0.0.1')).toBe(false);
    expect(trusted(undefined)).toBe(false);
    // X-Forwarded-For entries are client-controlled: garbage is simply not trusted.
    expect(trusted('not-an-ip')).toBe(false);
    expect(trusted('10.0.0.1, 10.0.0.2')).toBe(false);
    expect(createProxyTrust([])('127.0.0.1')).toBe(false);
  });
});

describe('loadConfig: Standard Webhooks', () => {
  it('keeps standard-webhooks off by default and enables it by name', () => {
    expect(loadConfig({ env: {} }).schemes).not.toContain('standard-webhooks');
    const config = loadConfig({ env: { HMAC_KIT_SCHEMES: 'rfc9421,standard-webhooks' } });
    expect(config.schemes).toEqual(['rfc9421', 'standard-webhooks']);
    expect(config.webhookKeyId).toBeUndefined();
  });

  it('reads the webhook key id from the config file, HMAC_KIT_WEBHOOK_KEY_ID and the flag, in that precedence', () => {
    const file = join(tempDir(), 'hmac-kit.json');
    writeFileSync(file, JSON.stringify({ schemes: ['standard-webhooks'], webhookKeyId: 'hk_fromFile0000000000000' }));
    expect(loadConfig({ configFile: file, env: {} }).webhookKeyId).toBe('hk_fromFile0000000000000');
    expect(
      loadConfig({ configFile: file, env: { HMAC_KIT_WEBHOOK_KEY_ID: 'hk_fromEnv00000000000000' } }).webhookKeyId,
    ).toBe('hk_fromEnv00000000000000');
    expect(
      loadConfig({
        configFile: file,
        env: { HMAC_KIT_WEBHOOK_KEY_ID: 'hk_fromEnv00000000000000' },
        flags: { webhookKeyId: 'imported-key-1' },
      }).webhookKeyId,
    ).toBe('imported-key-1');
  });

  it('refuses a malformed webhook key id or a pasted secret, never echoing it', () => {
    for (const bad of ['has space', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'hks_c2VjcmV0', '']) {
      let error: unknown;
      try {
        loadConfig({ env: { HMAC_KIT_SCHEMES: 'standard-webhooks' }, flags: { webhookKeyId: bad } });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toMatch(/^invalid webhook key id/);
      if (bad) expect(message).not.toContain(bad);
    }
  });

  it('refuses a webhook key id when the scheme is not enabled', () => {
    expect(() => loadConfig({ env: { HMAC_KIT_WEBHOOK_KEY_ID: 'hk_0000000000000000000000' } })).toThrow(
      'webhook key id is set but standard-webhooks is not among the enabled schemes',
    );
  });
});
