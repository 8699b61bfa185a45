// The copy-paste examples of docs/clients.md, each run for real against a running `hmac-kit serve`
// gateway (RFC 9421 clients, and SigV4 through curl, the AWS SDK v3 signer and botocore), and
// each checked to appear verbatim in docs/clients.md so the page cannot drift from what works.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildForProcesses,
  type Echo,
  type LiveServer,
  run,
  startLiveServer,
} from '../../../test-support/clients/harness.js';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const DOC = fileURLToPath(new URL('../../../docs/clients.md', import.meta.url));
const PYTHONPATH = fileURLToPath(new URL('../../python', import.meta.url));

const examples: { file: string; command: string; needs?: string }[] = [
  { file: 'node-fetch.mjs', command: process.execPath },
  { file: 'axios.mjs', command: process.execPath },
  { file: 'undici.mjs', command: process.execPath },
  { file: 'smithy-sigv4.mjs', command: process.execPath },
  { file: 'rfc9421-library.mjs', command: process.execPath },
  { file: 'requests_auth.py', command: 'python3', needs: 'requests' },
  { file: 'botocore_sigv4.py', command: 'python3', needs: 'botocore' },
  { file: 'net_http.rb', command: 'ruby' },
  { file: 'bash-openssl.sh', command: 'bash' },
  { file: 'curl-sigv4.sh', command: 'bash' },
];

describe('docs/clients.md examples', () => {
  let server: LiveServer;
  beforeAll(async () => {
    buildForProcesses(['packages/cli', 'packages/axios', 'packages/undici']);
    server = await startLiveServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const example of examples) {
    it(`${example.file} is in docs/clients.md and its request passes the gateway`, async () => {
      const source = readFileSync(`${HERE}/${example.file}`, 'utf8');
      const body = source.replace(/^#!.*\n/, '').trim();
      expect(readFileSync(DOC, 'utf8')).toContain(body);

      const result = await run(example.command, [`${HERE}/${example.file}`], {
        cwd: HERE,
        env: {
          HMAC_KIT_URL: server.origin,
          HMAC_KIT_KEY_ID: server.keyId,
          HMAC_KIT_SECRET: server.secret,
          PYTHONPATH,
        },
      });
      // Optional third-party Python packages: skipped visibly where absent, never a build failure.
      // Told by the example's own import failing (a probe process per example cost as much as the example).
      if (example.needs && result.code !== 0 && result.stderr.includes(`No module named '${example.needs}'`)) {
        console.warn(`[examples] SKIPPED running ${example.file}: python3 has no ${example.needs}`);
        return;
      }
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const status = /\b(\d{3})\b/.exec(result.stdout.replace(/\{.*\}/s, ''))?.[1];
      expect(status, result.stdout).toBe('200');
      const echo = JSON.parse(/\{.*\}/s.exec(result.stdout)![0]) as Echo;
      expect(echo).toMatchObject({ keyId: server.keyId, method: 'POST', target: '/orders' });
      expect(echo.bodyLength).toBeGreaterThan(20);
    });
  }
});
