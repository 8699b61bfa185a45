/**
 * A server whose stdout nobody reads any more (the log reader died or hangs: a stuck `docker logs`,
 * a paused terminal, a dead journald pipe) holds a bounded amount of log lines in memory. Before:
 * sonic-boom queued every line logged while the pipe was full, without limit, so a busy server (or an
 * attacker sending requests) grew its memory with access lines until it was killed. Now at most
 * `--log-max-buffer` bytes are held (here 64kb, the smallest accepted); lines beyond it are dropped
 * whole, counted in `/metrics`, and once the reader comes back one warn line says how many were lost.
 */
import { Agent } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOnce, exitOf, startServe, tempDir } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { healthzWithId } from './support/crash.js';

const BOUND = 64 * 1024;
/** One log write (a batch of whole lines) may be held beside the bound before it is handed over. */
const ONE_BATCH = 4096;

/** The value of the unlabelled series `name` in a Prometheus text exposition. */
function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

describe('serve: the log lines held while stdout takes none are bounded', () => {
  it.each([
    ["a socket pair (Node's spawn: every write is sonic-boom's)", {}],
    ['a pipe (a FIFO: the direct writes of logger.ts meet EAGAIN and hand over to sonic-boom)', { stdout: 'fifo' }],
  ] as const)(
    'drops whole lines beyond --log-max-buffer, counts them, and says so once the reader is back; stdout %s',
    async (_kind, options) => {
      buildOnce();
      const dir = tempDir();
      const server = await startServe(['--db', join(dir, 'hmac-kit.db')], {
        cwd: dir,
        env: { HMAC_KIT_LOG_MAX_BUFFER: '64kb' },
        ...options,
      });
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      const stdout = server.stdout;
      if (stdout === undefined) throw new Error('no stdout');
      // Every byte the server writes, to check that no line was cut.
      let raw = '';
      stdout.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
      });
      let sent = 0;
      let scrapes = 0;
      const scrape = async () => {
        scrapes++;
        return (await fetch(`${server.url}/metrics`)).text();
      };
      try {
        // The reader stops: the FIFO (64 KiB) and the reader's own buffer fill, then the server's queue.
        stdout.pause();
        // ~160-byte access lines: 5,000 of them are ~800 KB, more than the pipe or socket buffer, the
        // reader's buffer and the bound together: without a bound the rest would be held by the server.
        for (let round = 0; round < 25; round++) {
          await Promise.all(
            Array.from({ length: 200 }, async (_, index) => {
              expect(await healthzWithId(agent, server.url, `b${round}-${index}`)).toBe(200);
              sent++;
            }),
          );
          const text = await scrape();
          expect(metric(text, 'hmac_kit_log_held_bytes')).toBeLessThanOrEqual(BOUND + ONE_BATCH);
        }
        const stalled = await scrape();
        const droppedLines = metric(stalled, 'hmac_kit_log_lines_dropped_total');
        expect(droppedLines).toBeGreaterThan(0);
        expect(metric(stalled, 'hmac_kit_log_bytes_dropped_total')).toBeGreaterThan(droppedLines * 100);
        expect(metric(stalled, 'hmac_kit_log_held_bytes')).toBeLessThanOrEqual(BOUND + ONE_BATCH);

        // The reader comes back: the held lines are written, then one line tells what was lost.
        stdout.resume();
        await until(() => server.logs.some((line) => line.msg === 'log lines dropped'));
        const dropped = server.logs.filter((line) => line.msg === 'log lines dropped');
        expect(dropped).toHaveLength(1);
        const report = dropped[0] as Record<string, unknown>;
        expect(report).toMatchObject({ level: 'warn', logMaxBuffer: BOUND });
        // Nothing more was dropped after the stall's scrape (its own line was the last one logged then).
        const after = await scrape();
        expect(metric(after, 'hmac_kit_log_lines_dropped_total')).toBe(report.droppedLines);
        expect(metric(after, 'hmac_kit_log_bytes_dropped_total')).toBe(report.droppedBytes);

        server.child.kill('SIGTERM');
        expect(await exitOf(server)).toEqual({ code: 0, signal: null });
        // Whole lines only: every line written is JSON.
        const lines = raw.split('\n');
        expect(lines.pop()).toBe('');
        expect(lines.filter((line) => !line.startsWith('{') || !line.endsWith('}'))).toEqual([]);
        for (const line of lines) JSON.parse(line);
        // Every access line was either written or counted as dropped: none lost silently.
        const requestLines = server.logs.filter((line) => line.msg === 'request');
        expect(requestLines.length + (report.droppedLines as number)).toBe(sent + scrapes);
        expect(server.logs.filter((line) => line.msg === 'log lines dropped')).toHaveLength(1);
      } finally {
        agent.destroy();
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    },
    120_000,
  );
});
