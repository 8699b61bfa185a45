import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, signed } from '../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { type Answer, readAnswer } from './support/from-address.js';

/**
 * `serve --workers N` without Redis: the workers' nonce, rate-limit and throttle calls go over IPC
 * to the supervisor. A supervisor that is connected but stalled (SIGSTOP here; a busy event loop in
 * life) must make those calls fail closed within the same bound a Redis command has (1 s): a 503
 * store_unavailable problem+json, as a down Redis gives, not a request that hangs.
 *
 * The cluster's round-robin scheduling has the supervisor accept every new connection, so while it
 * is stopped only a connection a worker already holds reaches a worker: the test keeps one open.
 */

const SLOW = 120_000;

/** One request on `agent`'s single keep-alive connection. */
function verify(agent: Agent, url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/verify`, { agent, headers }, (response) => {
      readAnswer(response).then(resolve, reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function signedHeaders(key: IssuedKey, path: string): Promise<Record<string, string>> {
  const request = await signed(key, 'GET', `https://api.example.com${path}`);
  return {
    ...(request.init.headers as Record<string, string>),
    'x-forwarded-method': 'GET',
    'x-forwarded-uri': path,
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-proto': 'https',
    'x-forwarded-for': freshAddress(),
  };
}

describe('serve --workers: a stalled supervisor fails store calls closed (503), not a hang', () => {
  let server: ServeProcess;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'svc');
    server = await startServe(['--db', db, '--workers', '2', '--public-origin', 'https://api.example.com'], {
      cwd: dir,
      timeoutMs: SLOW,
    });
  }, SLOW);

  afterAll(async () => {
    await server?.stop();
  });

  it(
    'answers a signed forward-auth request 503 store_unavailable while the supervisor is stopped, then 200 again',
    async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // The connection a worker holds, opened while the supervisor runs.
        expect((await verify(agent, server.url, await signedHeaders(key, '/orders/1'))).status).toBe(200);
        const supervisor = server.child.pid as number;
        const headers = await signedHeaders(key, '/orders/2');
        process.kill(supervisor, 'SIGSTOP');
        let stalled: Answer | 'no answer';
        try {
          // A bound far above the 1 s deadline, far below a hang: a request without one never answers.
          let bound: NodeJS.Timeout | undefined;
          stalled = await Promise.race([
            verify(agent, server.url, headers),
            new Promise<'no answer'>((resolve) => {
              bound = setTimeout(() => resolve('no answer'), 20_000);
            }),
          ]);
          clearTimeout(bound);
        } finally {
          process.kill(supervisor, 'SIGCONT');
        }
        expect(stalled).not.toBe('no answer');
        const answer = stalled as Answer;
        expect(answer.status).toBe(503);
        expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(answer.body.code).toBe('store_unavailable');
        // Once the supervisor runs again (its late answers to the expired calls ignored), requests succeed.
        await until(
          async () => (await verify(agent, server.url, await signedHeaders(key, '/orders/3'))).status === 200,
        );
      } finally {
        agent.destroy();
      }
    },
    SLOW,
  );
});
