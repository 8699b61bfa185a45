// The Ruby client (clients/ruby): known-answer vectors first, then real signed requests
// (bin/hmac-kit-client on Net::HTTP) against a live verifying server.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliClient,
  type CliInvocation,
  checkSecretFile,
  checkWrongSecret,
  cliCaseInvocation,
  expectCliCaseResult,
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

/**
 * Runs `ruby bin/hmac-kit-client <args>` for each invocation, all in one Ruby process: the script
 * loaded with ARGV and ENV set for the invocation, its $stdout and $stderr captured and the status of
 * its closing exit returned. A process per case cost ~0.3 s of CPU each, for ~25 cases. The
 * wrong-secret and --secret-file tests still run the command as its own process.
 */
async function rubyCliBatch(invocations: CliInvocation[]): Promise<{ code: number; stdout: string; stderr: string }[]> {
  const script = `
require 'json'
require 'stringio'
results = JSON.parse($stdin.read).map do |invocation|
  saved = ENV.to_h
  invocation['env'].each { |name, value| ENV[name] = value }
  out = StringIO.new
  err = StringIO.new
  $stdout = out
  $stderr = err
  code = 0
  begin
    ARGV.replace(invocation['argv'])
    load invocation['script']
  rescue SystemExit => e
    code = e.status
  ensure
    $stdout = STDOUT
    $stderr = STDERR
    ENV.replace(saved)
  end
  { code: code, stdout: out.string, stderr: err.string }
end
STDOUT.write(JSON.generate(results))
`;
  const cases = invocations.map(({ args, env }) => {
    if (args[0] !== BIN) throw new Error(`not a run of ${BIN}: ${args.join(' ')}`);
    return { script: BIN, argv: args.slice(1), env };
  });
  const result = await run('ruby', ['-e', script], { input: JSON.stringify(cases) });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as { code: number; stdout: string; stderr: string }[];
}

describeKnownAnswers('ruby client', rubyJobs);

describe('ruby client: live server', () => {
  let server: LiveServer;
  const dir = tempDir('hmac-kit-ruby-');
  const xApi = withXApi(ruby);
  let results: { code: number; stdout: string; stderr: string }[] = [];
  beforeAll(async () => {
    server = await startLiveServer();
    results = await rubyCliBatch([
      ...clientCases.map((testCase) => cliCaseInvocation(ruby, server, testCase, dir.path)),
      ...clientCases.map((testCase) => cliCaseInvocation(xApi, server, testCase, dir.path)),
    ]);
  });
  afterAll(async () => {
    await server?.close();
    dir.cleanup();
  });

  clientCases.forEach((testCase, index) => {
    it(`Net::HTTP: ${testCase.name}`, () => expectCliCaseResult(ruby, server, testCase, results[index]!));
  });

  it('a wrong secret is refused with signature_invalid', () => checkWrongSecret(ruby, server));

  it('reads the secret from --secret-file', () => checkSecretFile(ruby, server, dir.path));

  clientCases.forEach((testCase, index) => {
    it(`--scheme x-api: ${testCase.name}`, () =>
      expectCliCaseResult(xApi, server, testCase, results[clientCases.length + index]!));
  });

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
