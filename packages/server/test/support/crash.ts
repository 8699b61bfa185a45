import { type Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';

/** The hook that makes a served process throw an uncaught exception on SIGUSR2 (support/crash-on-signal.mjs). */
const crashHook = pathToFileURL(join(import.meta.dirname, 'crash-on-signal.mjs')).href;

/**
 * `hmac-kit serve` on a fresh SQLite file with the crash hook loaded: `server.child.kill('SIGUSR2')`
 * throws an uncaught exception inside it. `env` adds the hook's knobs (e.g.
 * `HMAC_KIT_TEST_SLOW_LOG_MS`: every stdout write completes that late).
 *
 * @example
 * const server = await startCrashableServe({ HMAC_KIT_TEST_SLOW_LOG_MS: '700' });
 * server.child.kill('SIGUSR2');
 */
export async function startCrashableServe(
  env: Record<string, string> = {},
  options: { stdout?: 'fifo' } = {},
): Promise<ServeProcess> {
  buildOnce();
  const dir = tempDir();
  return startServe(['--db', join(dir, 'hmac-kit.db')], {
    cwd: dir,
    env: {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${crashHook}`.trim(),
      HMAC_KIT_TEST_CRASH_ON_SIGNAL: '1',
      ...env,
    },
    ...options,
  });
}

/**
 * GET /healthz with `x-request-id: id` over `agent`: resolves with the status once the answer was read.
 *
 * @example
 * ```ts
 * const status = await healthzWithId(new Agent({ keepAlive: true }), server.url, 'req-1'); // 200
 * ```
 */
export function healthzWithId(agent: Agent, url: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/healthz`, { agent, headers: { 'x-request-id': id } }, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
