/**
 * review17: the direct pipe write of logger.ts (batchedStdout's own non-blocking descriptor of
 * /proc/self/fd/N) against the stdouts it must leave alone or survive: a regular file (never opened
 * again: an O_WRONLY reopen would write from offset 0 over what is there), /dev/null, a socket; and a
 * FIFO whose reader goes away (EPIPE: Node ignores SIGPIPE, the process is not killed by it, and exits
 * as it would through sonic-boom alone).
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildOnce, repoRoot } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { batchedStdout } from '../src/logger.js';
import { descriptorsOf, fifo } from './support/pipes.js';

async function ended(destination: ReturnType<typeof batchedStdout>): Promise<void> {
  destination.end();
  await new Promise((resolve) => destination.once('close', resolve));
}

describe('review17: the direct pipe write leaves other stdouts alone', () => {
  it('a regular file opened without O_APPEND, written past its start: never opened again, written at its offset', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hmac-kit-file-')), 'out.log');
    writeFileSync(path, 'earlier line\n');
    const fd = openSync(path, constants.O_WRONLY);
    writeSync(fd, 'earlier line\n'); // the descriptor's offset is past the first line now
    const before = descriptorsOf(path);
    const destination = batchedStdout(fd);
    expect(descriptorsOf(path)).toEqual(before);
    destination.write('{"msg":"one"}\n');
    destination.flushSync();
    await ended(destination);
    expect(readFileSync(path, 'utf8')).toBe('earlier line\n{"msg":"one"}\n');
  });

  it('/dev/null: no own descriptor', async () => {
    const fd = openSync('/dev/null', constants.O_WRONLY);
    const before = descriptorsOf('/dev/null');
    const destination = batchedStdout(fd);
    expect(descriptorsOf('/dev/null')).toEqual(before);
    destination.write('{"msg":"one"}\n');
    await ended(destination);
  });

  it('a FIFO whose reader goes away: the process is not killed by SIGPIPE and exits as it would without the direct path', async () => {
    buildOnce();
    const { reader, writer } = fifo();
    const loggerUrl = pathToFileURL(join(repoRoot, 'packages/server/dist/logger.js')).href;
    const script = join(mkdtempSync(join(tmpdir(), 'hmac-kit-pipe-')), 'epipe.mjs');
    // Logs, waits for the reader to be closed (a line on stdin), logs more (EPIPE), then ends normally.
    writeFileSync(
      script,
      `import { createLogger } from ${JSON.stringify(loggerUrl)};
const logger = createLogger('info');
logger.info('before');
process.stdin.once('data', async () => {
  for (let index = 0; index < 200; index++) logger.info({ index, pad: 'p'.repeat(100) }, 'after');
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (let index = 0; index < 200; index++) logger.info({ index }, 'later');
  process.stderr.write('done\\n');
  process.exitCode = 7;
});
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['pipe', writer, 'pipe'] });
    closeSync(writer);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (code, signal) => resolve([code, signal])),
    );
    // The child's first line in the pipe: it is up and writing. Then the reader goes away.
    const chunk = Buffer.alloc(4096);
    await until(() => {
      try {
        return readSync(reader, chunk) > 0;
      } catch {
        return false;
      }
    });
    closeSync(reader);
    child.stdin!.end('go\n');
    const [code, signal] = await exited;
    expect(signal).toBeNull();
    expect(stderr).toContain('done');
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(7);
  }, 30_000);
});
