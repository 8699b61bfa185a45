/**
 * Review (session 5), `--debug-signatures`: the signature base tells every client how the server
 * canonicalises requests, so `true` is accepted only where no one else can send requests. Attack:
 * every spelling of "all interfaces" and of hosts that are not this machine, and a loopback bind
 * that is published through a reverse proxy (its public origin names another host).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackHost, loadConfig } from '../../src/index.js';

describe('review5: debug signatures only where nobody else can ask', () => {
  it('refuses every wildcard, mapped or remote spelling of the bind host', () => {
    const remote = [
      '0.0.0.0',
      '::',
      '[::]',
      '::0',
      '0:0:0:0:0:0:0:0',
      '::ffff:0.0.0.0',
      '::ffff:192.0.2.1',
      '::ffff:7f00:1', // hex spelling of a mapped loopback: refused (fails closed) rather than parsed
      '127.1', // inet_aton shorthand: not an IPv4 literal to isIP, refused
      '2130706433',
      '0x7f000001',
      'localhost.',
      'localhost.example.com',
      '127.0.0.1.nip.io',
      'my-laptop',
      'fe80::1',
      '::2',
      '',
    ];
    for (const host of remote) {
      expect(isLoopbackHost(host), host).toBe(false);
      if (host !== '') expect(() => loadConfig({ flags: { host, debugSignatures: true } }), host).toThrow(ConfigError);
    }
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1', 'LOCALHOST', 'localhost']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
  });

  it('a loopback bind published as a public origin elsewhere (a reverse proxy) is refused unless forced', () => {
    const behindProxy = { host: '127.0.0.1', publicOrigin: 'https://api.example.com', debugSignatures: true };
    expect(() => loadConfig({ flags: behindProxy })).toThrow(ConfigError);
    expect(() => loadConfig({ flags: behindProxy })).toThrow(/^debug signatures refused with public origin .*force/);
    expect(() =>
      loadConfig({
        env: {
          HMAC_KIT_PUBLIC_ORIGIN: 'https://api.example.com/prefix',
          HMAC_KIT_DEBUG_SIGNATURES: 'on',
        },
      }),
    ).toThrow(ConfigError);
    expect(loadConfig({ flags: { ...behindProxy, debugSignatures: 'force' } }).debugSignatures).toBe('force');
    // A public origin on this machine (a local TLS terminator during development) is fine.
    for (const publicOrigin of ['https://localhost:8443', 'http://127.0.0.1:9000/api', 'http://[::1]:8080']) {
      expect(loadConfig({ flags: { host: '127.0.0.1', publicOrigin, debugSignatures: true } }).debugSignatures).toBe(
        true,
      );
    }
  });

  it('is never on unless asked: no flag, an empty variable, or false in any source', () => {
    expect(loadConfig({}).debugSignatures).toBe(false);
    expect(loadConfig({ env: { HMAC_KIT_DEBUG_SIGNATURES: '' } }).debugSignatures).toBe(false);
    expect(loadConfig({ env: { HMAC_KIT_DEBUG_SIGNATURES: 'off' } }).debugSignatures).toBe(false);
    // The flag wins over the environment, both ways.
    expect(
      loadConfig({ flags: { debugSignatures: false }, env: { HMAC_KIT_DEBUG_SIGNATURES: 'force' } }).debugSignatures,
    ).toBe(false);
  });
});
