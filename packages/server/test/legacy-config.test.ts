/**
 * Issue #12: `legacySchemes` in the config file is validated at start, one clear line per mistake
 * (all of them at once, not the first only), and the ready-made examples load as they are.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@hmac-kit/server';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli, tempDir } from '../../../test-support/processes.js';

describe('legacySchemes validation', () => {
  it('loads every examples/legacy file', () => {
    const files = readdirSync(join(repoRoot, 'examples/legacy')).filter((file) => file.endsWith('.json'));
    expect(files.sort()).toEqual([
      'authorization-hmac.json',
      'django.json',
      'x-api-shared-secret.json',
      'x-hmac-signature-body.json',
      'x-hmac-signature.json',
    ]);
    for (const file of files) {
      const config = loadConfig({ configFile: join(repoRoot, 'examples/legacy', file), env: {} });
      expect(config.schemes).toContain('rfc9421');
    }
  });

  it('reports each mistake on its own line', () => {
    const file = join(tempDir(), 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        schemes: ['rfc9421', 'x-api'],
        legacySchemes: [
          {
            name: 'Bad Name',
            signature: { header: 'x-sig', encoding: 'hex32' },
            keyId: { fixed: 'legacy' },
            message: ['body', { jsonfield: 'a' }],
            timestamp: { header: 'x-ts', format: 'rfc822' },
          },
          {
            name: 'clash',
            signature: { header: 'X-API-Signature', encoding: 'hex' },
            keyId: { header: 'x-api-key' },
            message: ['method'],
          },
        ],
      }),
    );
    let error: unknown;
    try {
      loadConfig({ configFile: file, env: {} });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as Error).message.split('\n');
    expect(lines).toEqual([
      'legacySchemes[0].name: name must be 1-63 characters of a-z 0-9 . _ -',
      'legacySchemes[0].signature.encoding: signature.encoding must be hex or base64',
      expect.stringMatching(/^legacySchemes\[0\]\.message\.1: a message part is one of /),
      'legacySchemes[0].timestamp.format: timestamp.format must be unix or iso8601',
      "legacySchemes[1].signature.header: x-api-signature is the built-in x-api scheme's; leave x-api out of schemes",
    ]);
  });

  it('hmac-kit serve prints those lines and exits 2 before opening anything', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        legacySchemes: [
          {
            name: 'a',
            signature: { header: 'authorization', encoding: 'hex' },
            keyId: { fixed: 'legacy' },
            message: [],
          },
        ],
      }),
    );
    const result = await runCli(['serve', '--config', file, '--db', join(dir, 'db.sqlite')], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('legacySchemes[0].message: message must list at least one part');
  });
});
