/**
 * Adversarial review of `--nonce-capacity` parsing (session 22, helper review22): what an operator's
 * typo or a templated value turns into. Only plain decimal digits (surrounding blanks ignored, as
 * every integer setting) are a capacity from a flag or a variable; a JSON number from the config file
 * is taken as a number. Never a silent 0, a silent default, nor a value above the bound.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../test-support/processes.js';
import { ConfigError, loadConfig, MAX_NONCE_CAPACITY } from '../src/index.js';

describe('nonce capacity parsing (review22)', () => {
  it('refuses what is not plain decimal digits, from a flag or HMAC_KIT_NONCE_CAPACITY', () => {
    for (const bad of [
      '1e6',
      '0x10',
      '5.0',
      '-1',
      '+5',
      '1_000',
      '1,000',
      '٥',
      'Infinity',
      'NaN',
      '9'.repeat(400),
      '00',
      ' ',
    ]) {
      expect(() => loadConfig({ env: {}, flags: { nonceCapacity: bad } }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ env: {}, flags: { nonceCapacity: bad } }), bad).toThrow(/invalid nonce capacity/);
      expect(() => loadConfig({ env: { HMAC_KIT_NONCE_CAPACITY: bad } }), bad).toThrow(/invalid nonce capacity/);
    }
    // A flag given empty is a mistake; an empty variable is unset (as for every HMAC_KIT_* variable).
    expect(() => loadConfig({ env: {}, flags: { nonceCapacity: '' } })).toThrow(/invalid nonce capacity ""/);
    expect(loadConfig({ env: { HMAC_KIT_NONCE_CAPACITY: '' } }).nonceCapacity).toBe(1_000_000);
    expect(loadConfig({ env: { HMAC_KIT_NONCE_CAPACITY: ' 5 ' } }).nonceCapacity).toBe(5);
    expect(loadConfig({ env: { HMAC_KIT_NONCE_CAPACITY: '0005' } }).nonceCapacity).toBe(5);
  });

  it('takes JSON numbers from the config file, within 1..100,000,000 and whole', () => {
    const dir = tempDir();
    const file = (value: unknown) => {
      const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(path, `{"nonceCapacity": ${JSON.stringify(value) ?? value}}`);
      return path;
    };
    expect(loadConfig({ env: {}, configFile: file(1e6) }).nonceCapacity).toBe(1_000_000);
    expect(loadConfig({ env: {}, configFile: file(MAX_NONCE_CAPACITY) }).nonceCapacity).toBe(MAX_NONCE_CAPACITY);
    for (const bad of [0, -1, 2.5, 1e300, MAX_NONCE_CAPACITY + 1, null, true, '1e6']) {
      expect(() => loadConfig({ env: {}, configFile: file(bad) }), String(bad)).toThrow(ConfigError);
    }
    // The --redis refusal whatever the sources: capacity in the file, Redis from a flag.
    expect(() => loadConfig({ env: {}, configFile: file(10), flags: { redis: 'redis://cache:6379' } })).toThrow(
      /does not apply with --redis/,
    );
  });
});
