/**
 * Drives a command-line client (Python, Ruby, bash) through every client case against a live
 * verifying server, and through the known-answer vectors, with one shared set of assertions.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type ClientCase, type Echo, type LiveServer, run, sha256Hex } from './harness.js';

/** How to invoke one client's `request` command. */
export interface CliClient {
  name: string;
  /** Command and arguments for a signed request; the secret is passed in the environment variable `secretEnv`. */
  request(args: {
    method: string;
    url: string;
    keyId: string;
    secretEnv: string;
    dataFile?: string;
    headers: string[];
  }): { command: string; args: string[]; env?: Record<string, string> };
}

/** One run of a client's command. */
export interface CliInvocation {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** The client's command that sends one case (its body, if any, written to a file in `dir`). */
export function cliCaseInvocation(
  client: CliClient,
  server: LiveServer,
  testCase: ClientCase,
  dir: string,
): CliInvocation {
  let dataFile: string | undefined;
  if (testCase.body) {
    dataFile = join(dir, `${testCase.name.replace(/\W+/g, '-')}.body`);
    writeFileSync(dataFile, testCase.body);
  }
  const headers = testCase.contentType ? [`Content-Type: ${testCase.contentType}`] : [];
  const { command, args, env } = client.request({
    method: testCase.method,
    url: server.origin + testCase.pathAndQuery,
    keyId: server.keyId,
    secretEnv: 'CLIENT_TEST_SECRET',
    dataFile,
    headers,
  });
  return { command, args, env: { ...env, CLIENT_TEST_SECRET: server.secret } };
}

/** Asserts that the server verified a case sent by the client and received exactly what was signed. */
export function expectCliCaseResult(
  client: CliClient,
  server: LiveServer,
  testCase: ClientCase,
  result: { code: number | null; stdout: string; stderr: string },
): void {
  if (result.code !== 0) {
    throw new Error(
      `${client.name} exited ${result.code} for "${testCase.name}"\nstdout: ${result.stdout}\nstderr: ${result.stderr}` +
        `\nserver refusals: ${JSON.stringify(server.refusals.slice(-3))}`,
    );
  }
  const echo = JSON.parse(result.stdout) as Echo;
  const body = testCase.body ?? new Uint8Array();
  expect(echo).toEqual({
    keyId: server.keyId,
    method: testCase.method,
    target: testCase.expectedTarget,
    bodyLength: body.length,
    bodySha256: sha256Hex(body),
  });
}

/** Sends one case through the client (its own process) and asserts what {@link expectCliCaseResult} does. */
export async function checkCliCase(client: CliClient, server: LiveServer, testCase: ClientCase, dir: string) {
  const { command, args, env } = cliCaseInvocation(client, server, testCase, dir);
  expectCliCaseResult(client, server, testCase, await run(command, args, { env }));
}

/** A wrong secret must be refused with the public `signature_invalid` code. */
export async function checkWrongSecret(client: CliClient, server: LiveServer) {
  const { command, args, env } = client.request({
    method: 'GET',
    url: `${server.origin}/v1/whoami`,
    keyId: server.keyId,
    secretEnv: 'CLIENT_TEST_SECRET',
    headers: [],
  });
  const wrong = `hks_${Buffer.alloc(32, 7).toString('base64url')}`;
  const result = await run(command, args, { env: { ...env, CLIENT_TEST_SECRET: wrong } });
  expect(result.code).not.toBe(0);
  expect(result.stdout).toContain('signature_invalid');
}

/** The same client, signing with the X-API-* scheme instead (`--scheme x-api`). */
export function withXApi(client: CliClient): CliClient {
  return {
    name: `${client.name} --scheme x-api`,
    request: (args) => {
      const invocation = client.request(args);
      return { ...invocation, args: [...invocation.args, '--scheme', 'x-api'] };
    },
  };
}

/** The secret can come from a file (`--secret-file`), and the request still verifies. */
export async function checkSecretFile(client: CliClient, server: LiveServer, dir: string) {
  const file = join(dir, 'secret');
  writeFileSync(file, `${server.secret}\n`, { mode: 0o600 });
  const { command, args, env } = client.request({
    method: 'GET',
    url: `${server.origin}/v1/whoami?via=file`,
    keyId: server.keyId,
    secretEnv: 'CLIENT_TEST_UNSET_SECRET',
    headers: [],
  });
  const result = await run(command, [...args, '--secret-file', file], {
    env: { ...env, CLIENT_TEST_UNSET_SECRET: '' },
  });
  expect(result.stderr).toBe('');
  expect(JSON.parse(result.stdout)).toMatchObject({ keyId: server.keyId, target: '/v1/whoami?via=file' });
}
