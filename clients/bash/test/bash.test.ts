// The bash client (clients/bash/hmac-kit-sign.sh, openssl + curl): the hmac-kit profile vectors
// first, then real signed requests through curl against a live verifying server.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliClient, checkCliCase, checkWrongSecret } from '../../../test-support/clients/cli-cases.js';
import { clientCases, type LiveServer, run, startLiveServer, tempDir } from '../../../test-support/clients/harness.js';
import {
  bashArgsFor,
  coreVectorJobs,
  type SignJob,
  type SignResult,
  trickyUrlJobs,
} from '../../../test-support/clients/vectors.js';

const SCRIPT = fileURLToPath(new URL('../hmac-kit-sign.sh', import.meta.url));

const bash: CliClient = {
  name: 'hmac-kit-sign.sh',
  request: ({ method, url, keyId, secretEnv, dataFile, headers }) => ({
    command: 'bash',
    // The script reads the secret from HMAC_KIT_SECRET; the harness names its own variable.
    args: [
      '-c',
      `HMAC_KIT_SECRET="$${secretEnv}" exec bash "$0" "$@"`,
      SCRIPT,
      method,
      url,
      '--key-id',
      keyId,
      ...(dataFile ? ['--data-file', dataFile] : []),
      ...headers.flatMap((h) => ['-H', h]),
    ],
  }),
};

describe('bash client: known answers', () => {
  async function checkJobs(jobs: SignJob[], expected: SignResult[]) {
    const dir = tempDir('hmac-kit-bash-vectors-');
    try {
      for (const [i, job] of jobs.entries()) {
        const invocation = bashArgsFor(job, dir.path, i);
        const want = expected[i]!;
        const headers = await run('bash', [SCRIPT, '--print-headers', ...invocation.args], { env: invocation.env });
        const base = await run('bash', [SCRIPT, '--print-base', ...invocation.args], { env: invocation.env });
        if ('error' in want) {
          expect(headers.code).not.toBe(0);
          continue;
        }
        expect(headers.stderr).toBe('');
        expect(base.stdout, job.url).toBe(`${want.signature_base}\n`);
        const printed = Object.fromEntries(
          headers.stdout
            .trim()
            .split('\n')
            .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
        );
        expect(printed).toEqual(want.headers);
      }
    } finally {
      dir.cleanup();
    }
  }

  it('reproduces every hmac-kit profile vector (signature base and signature)', async () => {
    const { jobs, expected } = await coreVectorJobs();
    await checkJobs(jobs, expected);
  });

  it('normalises URLs as users type them exactly like the core signer (WHATWG URL)', async () => {
    const { jobs, expected } = await trickyUrlJobs();
    await checkJobs(jobs, expected);
  });

  it('never puts the secret in a process argument list', async () => {
    const { readFileSync } = await import('node:fs');
    const source = readFileSync(SCRIPT, 'utf8');
    // Only bash builtins (printf) and pipes see key material; openssl gets it on stdin or in 0600 files.
    expect(source).not.toMatch(/hexkey|-hmac |macopt/);
  });
});

describe('bash client: live server', () => {
  let server: LiveServer;
  const dir = tempDir('hmac-kit-bash-');
  beforeAll(async () => {
    server = await startLiveServer();
  });
  afterAll(async () => {
    await server?.close();
    dir.cleanup();
  });

  for (const testCase of clientCases) {
    it(`curl: ${testCase.name}`, () => checkCliCase(bash, server, testCase, dir.path));
  }

  it('a wrong secret is refused with signature_invalid', () => checkWrongSecret(bash, server));

  it('--print-headers output works with any HTTP tool (here: curl -H)', async () => {
    const env = { HMAC_KIT_KEY_ID: server.keyId, HMAC_KIT_SECRET: server.secret };
    const url = `${server.origin}/v1/whoami?x=1`;
    const signed = await run('bash', [SCRIPT, '--print-headers', 'GET', url], { env });
    const headerArgs = signed.stdout
      .trim()
      .split('\n')
      .flatMap((line) => ['-H', line]);
    const result = await run('curl', ['-sS', ...headerArgs, url]);
    expect(JSON.parse(result.stdout)).toMatchObject({ keyId: server.keyId, target: '/v1/whoami?x=1' });
  });
});
