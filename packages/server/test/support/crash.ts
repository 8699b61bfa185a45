import { type Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';

/** The hook that makes a served process throw an uncaught exception on SIGUSR2 (support/crash-on-signal.mjs). */
const crashHook = pathToFileURL(join(import.meta.dirname, 'crash-on-signal.mjs')).href;

/** What the crash hook writes to stderr when the process's 'exit' listeners (its exit flush) run. */
export const EXIT_LISTENERS_RUN = 'crash hook: exit listeners run';
/** What the crash hook writes to stderr when a slowed write carrying an access line starts (HMAC_KIT_TEST_SLOW_LOG_MS). */
export const ACCESS_WRITE_IN_FLIGHT = 'crash hook: an access line write is in flight';

/**
 * `hmac-kit serve` on a fresh SQLite file with the crash hook loaded: `server.child.kill('SIGUSR2')`
 * throws an uncaught exception inside it. `env` adds the hook's knobs (e.g.
 * `HMAC_KIT_TEST_SLOW_LOG_MS`: a stdout write carrying an access line completes that long after the crash).
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

/** The unlabelled series `name` of a Prometheus text exposition. */
export function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

/**
 * Log bytes held beyond what the 25 ms batch holds (one write of at most 4 KiB): sonic-boom queues
 * them only when stdout took no more, so a server holding this many has a full log pipe.
 */
const PIPE_FULL_HELD_BYTES = 16 * 1024;

/**
 * Sends rounds of 100 GET /healthz (ids `<prefix><round>-<index>`, each pushed to `answered` once
 * answered 200) until the server's `/metrics` says its log pipe is full
 * (`hmac_kit_log_held_bytes` above {@link PIPE_FULL_HELD_BYTES}): the caller has stopped reading its
 * stdout. A condition, not a count: access lines got shorter (issue #15) and 1,000 of them (~160 KB)
 * no longer filled a socket pair and its reader's buffer, so the crash tests checked nothing.
 */
export async function fillLogPipe(server: { url: string }, agent: Agent, prefix: string, answered: string[] = []) {
  for (let round = 0; ; round++) {
    if (round === 200) throw new Error('the log pipe was not full after 200 rounds of 100 requests');
    await Promise.all(
      Array.from({ length: 100 }, async (_, index) => {
        const id = `${prefix}${round}-${index}`;
        const status = await healthzWithId(agent, server.url, id);
        if (status !== 200) throw new Error(`GET /healthz answered ${status}`);
        answered.push(id);
      }),
    );
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    if (metricValue(metrics, 'hmac_kit_log_held_bytes') > PIPE_FULL_HELD_BYTES) return answered;
  }
}
