// The Python client (clients/python): known-answer vectors first, then real signed requests
// (CLI on urllib, and the requests auth class) against a live verifying server.
import { spawnSync } from 'node:child_process';
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

describeKnownAnswers('python client', pythonJobs);

describe('python client: live server', () => {
  let server: LiveServer;
  const dir = tempDir('hmac-kit-python-');
  beforeAll(async () => {
    server = await startLiveServer();
  });
  afterAll(async () => {
    await server?.close();
    dir.cleanup();
  });

  for (const testCase of clientCases) {
    it(`CLI (urllib): ${testCase.name}`, () => checkCliCase(python, server, testCase, dir.path));
  }

  it('CLI: a wrong secret is refused with signature_invalid', () => checkWrongSecret(python, server));

  it('CLI: reads the secret from --secret-file', () => checkSecretFile(python, server, dir.path));

  for (const testCase of clientCases) {
    it(`CLI --scheme x-api: ${testCase.name}`, () => checkCliCase(withXApi(python), server, testCase, dir.path));
  }

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
