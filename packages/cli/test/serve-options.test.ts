import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { buildOnce, runCliInProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { describeWithServices, pgUrl } from '../../../test-support/services.js';

// Issue #11 defect 12: `serve --master-key-file FILE` was swallowed by the global option of the
// same name, so serve fell back to a new default master key file and refused to open an
// existing PostgreSQL database. Every spelling must reach the server.
describeWithServices('serve: options that exist globally and on serve', { postgres: true }, () => {
  const databaseName = `hmac_kit_cli_${randomBytes(6).toString('hex')}`;
  let databaseUrl: string;
  let masterKeyFile: string;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`create database ${databaseName}`);
    await admin.end();
    const url = new URL(pgUrl);
    url.pathname = `/${databaseName}`;
    databaseUrl = url.toString();
    // The master key file lives apart from where serve runs (its default would be ./.hmac-kit/).
    masterKeyFile = join(tempDir(), 'master-keys.json');
    const file = { version: 1, keys: [{ id: 'mk-1', key: randomBytes(32).toString('base64'), createdAt: new Date() }] };
    writeFileSync(masterKeyFile, JSON.stringify(file), { mode: 0o600 });
    const created = await runCliInProcess(['--db', databaseUrl, '--master-key-file', masterKeyFile, 'db', 'migrate']);
    expect(created.code, created.stderr).toBe(0);
    // Through the environment, so that `principals add` uses it too: given to `keys create` alone, the
    // principal's command created a default master key file in the folder the tests run from.
    key = await createKeyWithCli(databaseUrl, 'mk-user', [], { HMAC_KIT_MASTER_KEY_FILE: masterKeyFile });
  });

  afterAll(async () => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop database if exists ${databaseName} with (force)`);
    await client.end();
  });

  type Spelling = { args?: string[]; globalArgs?: string[]; env?: Record<string, string> };
  const spellings: Array<[string, (file: string) => Spelling]> = [
    ['serve --master-key-file FILE', (file) => ({ args: ['--master-key-file', file] })],
    ['hmac-kit --master-key-file FILE serve', (file) => ({ globalArgs: ['--master-key-file', file] })],
    ['HMAC_KIT_MASTER_KEY_FILE=FILE serve', (file) => ({ env: { HMAC_KIT_MASTER_KEY_FILE: file } })],
  ];

  for (const [name, spelling] of spellings) {
    it(`opens the existing database with the master key file given as ${name}`, async () => {
      const { args = [], globalArgs, env } = spelling(masterKeyFile);
      const server = await startServe(['--db', databaseUrl, '--schemes', 'rfc9421', ...args], {
        cwd: tempDir(),
        env,
        globalArgs,
      });
      try {
        const opened = server.logs.find((line) => line.msg === 'key store opened');
        expect(opened?.masterKeyFile).toBe(masterKeyFile);
        const result = await send(await signed(key, 'GET', `${server.url}/v1/whoami`), {
          'x-forwarded-for': freshAddress(),
        });
        expect(result.status).toBe(200);
        expect(result.body.principal).toBe('mk-user');
      } finally {
        await server.stop();
      }
    });
  }
});
