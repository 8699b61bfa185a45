import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.js';

/**
 * A server logger writing into memory, for tests that check what was logged: its raw text (to
 * check that something never appears in it) and its lines parsed.
 *
 * @example
 * ```ts
 * const log = memoryLog();
 * const running = await startServer(config, { logger: log.logger });
 * expect(log.lines().map((line) => line.msg)).toContain('stopped');
 * ```
 */
export function memoryLog(level: Parameters<typeof createLogger>[0] = 'info'): {
  logger: Logger;
  text: () => string;
  lines: () => Array<Record<string, unknown>>;
} {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger: createLogger(level, sink), text, lines };
}
