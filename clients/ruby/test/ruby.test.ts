// The Ruby client (clients/ruby): known-answer vectors first, then real signed requests
// (bin/hmac-kit-client on Net::HTTP) against a live verifying server.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliClient,
  checkCliCase,
  checkSecretFile,
  checkWrongSecret,
  withXApi,
} from '../../../test-support/clients/cli-cases.js';
import { clientCases, type LiveServer, run, startLiveServer, tempDir } from '../../../test-support/clients/harness.js';
import { describeKnownAnswers } from '../../../test-support/clients/known-answers.js';
import type { SignJob, SignResult } from '../../../test-support/clients/vectors.js';

const BIN = fileURLToPath(new URL('../bin/hmac-kit-client', import.meta.url));
const LIB = fileURLToPath(new URL('../lib/hmac_kit_client.rb', import.meta.url));

async function rubyJobs(jobs: SignJob[]): Promise<SignResult[]> {
  const result = await run('ruby', [BIN, 'json'], { input: JSON.stringify(jobs) });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as SignResult[];
}

const ruby: CliClient = {
  name: 'ruby bin/hmac-kit-client',
  request: ({ method, url, keyId, secretEnv, dataFile, headers }) => ({
    command: 'ruby',
    args: [
      BIN,
      'request',
      method,
      url,
      '--key-id',
      keyId,
      '--secret-env',
      secretEnv,
      ...(dataFile ? ['--data-file', dataFile] : []),
      ...headers.flatMap((h) => ['-H', h]),
    ],
  }),
};

describeKnownAnswers('ruby client', rubyJobs);

describe('ruby client: live server', () => {
  let server: LiveServer;
  const dir = tempDir('hmac-kit-ruby-');
  beforeAll(async () => {
    server = await startLiveServer();
  });
  afterAll(async () => {
    await server?.close();
    dir.cleanup();
  });

  for (const testCase of clientCases) {
    it(`Net::HTTP: ${testCase.name}`, () => checkCliCase(ruby, server, testCase, dir.path));
  }

  it('a wrong secret is refused with signature_invalid', () => checkWrongSecret(ruby, server));

  it('reads the secret from --secret-file', () => checkSecretFile(ruby, server, dir.path));

  for (const testCase of clientCases) {
    it(`--scheme x-api: ${testCase.name}`, () => checkCliCase(withXApi(ruby), server, testCase, dir.path));
  }

  it('the library API (HmacKitClient.request) signs and sends', async () => {
    const script = `
require ${JSON.stringify(LIB)}
response = HmacKitClient.request('POST', ENV['ORIGIN'] + '/orders/東京?x=1&x=2', key_id: ENV['KEY_ID'], secret: ENV['SECRET'],
                                 headers: { 'Content-Type' => 'application/json' }, body: '{"city":"東京"}')
puts response.code
puts response.body
`;
    const result = await run('ruby', ['-e', script], {
      env: { ORIGIN: server.origin, KEY_ID: server.keyId, SECRET: server.secret },
    });
    expect(result.stderr).toBe('');
    const [status, body] = result.stdout.split('\n');
    expect(status).toBe('200');
    expect(JSON.parse(body!)).toMatchObject({ target: '/orders/%E6%9D%B1%E4%BA%AC?x=1&x=2', bodyLength: 17 });
  });
});
