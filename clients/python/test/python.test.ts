// The Python client (clients/python): known-answer vectors first, then real signed requests
// (CLI on urllib, and the requests auth class) against a live verifying server.
import { spawnSync } from 'node:child_process';
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

const CLIENT_DIR = fileURLToPath(new URL('..', import.meta.url));
// requests is an optional integration (the client itself is standard library only): a machine
// without it skips those tests visibly rather than failing the build.
const haveRequests = spawnSync('python3', ['-c', 'import requests']).status === 0;
if (!haveRequests) console.warn('[python client] SKIPPED the requests tests: python3 has no requests module');

async function pythonJobs(jobs: SignJob[]): Promise<SignResult[]> {
  const result = await run('python3', ['-m', 'hmac_kit_client', 'json'], {
    cwd: CLIENT_DIR,
    input: JSON.stringify(jobs),
  });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as SignResult[];
}

const python: CliClient = {
  name: 'python3 -m hmac_kit_client',
  request: ({ method, url, keyId, secretEnv, dataFile, headers }) => ({
    command: 'python3',
    env: { PYTHONPATH: CLIENT_DIR },
    args: [
      '-m',
      'hmac_kit_client',
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
 * Runs `python3 -m hmac_kit_client <args>` for each invocation, all in one Python process: main(argv)
 * with the invocation's environment, its stdout and stderr captured and its exit code returned.
 * A process per case cost ~0.5 s of CPU each (interpreter start-up and imports), for ~25 cases.
 * The wrong-secret and --secret-file tests still run the command as its own process.
 */
async function pythonCliBatch(
  invocations: CliInvocation[],
): Promise<{ code: number; stdout: string; stderr: string }[]> {
  const script = `
import contextlib, io, json, os, sys
from hmac_kit_client.__main__ import main
results = []
for case in json.load(sys.stdin):
    saved = dict(os.environ)
    os.environ.update(case["env"])
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(case["argv"])
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
    os.environ.clear()
    os.environ.update(saved)
    results.append({"code": code or 0, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()})
json.dump(results, sys.stdout)
`;
  const cases = invocations.map(({ args, env }) => {
    if (args[0] !== '-m' || args[1] !== 'hmac_kit_client') throw new Error(`not a module run: ${args.join(' ')}`);
    return { argv: args.slice(2), env };
  });
  const result = await run('python3', ['-c', script], { cwd: CLIENT_DIR, input: JSON.stringify(cases) });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as { code: number; stdout: string; stderr: string }[];
}

describeKnownAnswers('python client', pythonJobs);

describe('python client: live server', () => {
  let server: LiveServer;
  const dir = tempDir('hmac-kit-python-');
  const xApi = withXApi(python);
  let results: { code: number; stdout: string; stderr: string }[] = [];
  beforeAll(async () => {
    server = await startLiveServer();
    results = await pythonCliBatch([
      ...clientCases.map((testCase) => cliCaseInvocation(python, server, testCase, dir.path)),
      ...clientCases.map((testCase) => cliCaseInvocation(xApi, server, testCase, dir.path)),
    ]);
  });
  afterAll(async () => {
    await server?.close();
    dir.cleanup();
  });

  clientCases.forEach((testCase, index) => {
    it(`CLI (urllib): ${testCase.name}`, () => expectCliCaseResult(python, server, testCase, results[index]!));
  });

  it('CLI: a wrong secret is refused with signature_invalid', () => checkWrongSecret(python, server));

  it('CLI: reads the secret from --secret-file', () => checkSecretFile(python, server, dir.path));

  clientCases.forEach((testCase, index) => {
    it(`CLI --scheme x-api: ${testCase.name}`, () =>
      expectCliCaseResult(xApi, server, testCase, results[clientCases.length + index]!));
  });

  it.runIf(haveRequests)('requests: HmacKitAuth signs every case and the server accepts them', async () => {
    const script = `
import json, os, sys
import requests
from hmac_kit_client import HmacKitAuth
cases = json.load(sys.stdin)
session = requests.Session()
session.auth = HmacKitAuth(os.environ["KEY_ID"], os.environ["SECRET"])
out = []
for case in cases:
    body = bytes.fromhex(case["body_hex"]) if case["body_hex"] is not None else None
    headers = {"Content-Type": case["content_type"]} if case["content_type"] else {}
    response = session.request(case["method"], os.environ["ORIGIN"] + case["path"], data=body, headers=headers)
    out.append({"status": response.status_code, "body": response.json()})
json.dump(out, sys.stdout)
`;
    const cases = clientCases.map((c) => ({
      method: c.method,
      path: c.pathAndQuery,
      body_hex: c.body ? Buffer.from(c.body).toString('hex') : null,
      content_type: c.contentType ?? null,
    }));
    const result = await run('python3', ['-c', script], {
      cwd: CLIENT_DIR,
      input: JSON.stringify(cases),
      env: { KEY_ID: server.keyId, SECRET: server.secret, ORIGIN: server.origin },
    });
    expect(result.stderr).toBe('');
    const responses = JSON.parse(result.stdout) as { status: number; body: { target: string; keyId: string } }[];
    expect(responses.map((r) => r.status)).toEqual(clientCases.map(() => 200));
    expect(responses.map((r) => r.body.target)).toEqual(clientCases.map((c) => c.expectedTarget));
  });

  it.runIf(haveRequests)('requests: HmacKitAuth(scheme="x-api") signs with the X-API-* headers', async () => {
    const script = `
import os, requests
from hmac_kit_client import HmacKitAuth
auth = HmacKitAuth(os.environ["KEY_ID"], os.environ["SECRET"], scheme="x-api")
response = requests.post(os.environ["ORIGIN"] + "/orders/東京?b=2&a=1", data="{\\"x\\":1}", auth=auth)
print(response.status_code, response.text)
`;
    const result = await run('python3', ['-c', script], {
      cwd: CLIENT_DIR,
      env: { KEY_ID: server.keyId, SECRET: server.secret, ORIGIN: server.origin },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.startsWith('200 ')).toBe(true);
    expect(JSON.parse(result.stdout.slice(4))).toMatchObject({
      keyId: server.keyId,
      target: '/orders/%E6%9D%B1%E4%BA%AC?b=2&a=1',
    });
  });

  it.runIf(haveRequests)('requests: a streaming (generator) body is refused with a clear TypeError', async () => {
    const script = `
import os
import requests
from hmac_kit_client import HmacKitAuth
try:
    requests.post(os.environ["ORIGIN"] + "/orders", data=(b"x" for _ in range(3)), auth=HmacKitAuth("hk_x", "hks_" + "A" * 43))
except TypeError as error:
    print("TypeError:", error)
`;
    const result = await run('python3', ['-c', script], { cwd: CLIENT_DIR, env: { ORIGIN: server.origin } });
    expect(result.stdout).toMatch(/^TypeError: .*Content-Digest/);
  });
});
