import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { binPath, buildOnce, cleanEnv, tempDir } from '../../../test-support/processes.js';
import { createLogger, fitLogLine, MAX_LOG_LINE_BYTES } from '../src/logger.js';

/** A logger writing into memory; returns its lines. */
function capture(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger('info', sink), lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('log lines fit one atomic pipe write (4096 bytes)', () => {
  it('cuts long fields of an oversized entry, keeps it valid JSON, marks it, and still redacts secrets', () => {
    const { logger, lines } = capture();
    logger.info({ path: `/x/${'a'.repeat(20_000)}`, keyId: 'hk_short', secret: 'hks_never' }, 'request');
    logger.info({ path: '/short' }, 'small');
    const [long, short] = lines();
    expect(Buffer.byteLength(`${long}\n`)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    const entry = JSON.parse(long as string);
    expect(entry).toMatchObject({ msg: 'request', keyId: 'hk_short', secret: '[redacted]', logTruncated: true });
    expect(entry.path).toMatch(/^\/x\/a+…\[truncated\]$/);
    // A line that fits is written untouched.
    expect(JSON.parse(short as string)).not.toHaveProperty('logTruncated');
  });

  it('counts bytes, not characters (multi-byte text), and survives entries with many long fields', () => {
    const wide = { msg: 'wide', note: '€'.repeat(3_000) };
    const many = Object.fromEntries(Array.from({ length: 400 }, (_, index) => [`field${index}`, 'x'.repeat(100)]));
    for (const entry of [wide, { msg: 'many', ...many }]) {
      const line = fitLogLine(`${JSON.stringify(entry)}\n`);
      expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
      expect(line.endsWith('\n')).toBe(true);
      expect(JSON.parse(line)).toMatchObject({ msg: entry.msg, logTruncated: true });
    }
  });

  it('two workers logging long request lines at once never interleave on a shared stdout pipe', {
    timeout: 120_000,
  }, async () => {
    buildOnce();
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      [binPath, 'serve', '--port', '0', '--db', join(dir, 'hmac-kit.db'), '--workers', '2', '--log-level', 'info'],
      { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      // Every worker has said it listens (its own line), so requests reach both.
      const url = await new Promise<string>((resolve) => {
        const check = () => {
          const listening = stdout.split('\n').filter((line) => line.includes('"msg":"worker listening"'));
          const workers = new Set(listening.map((line) => /"worker":(\d+)/.exec(line)?.[1]).filter(Boolean));
          const match = /"url":"(http:[^"]+)"/.exec(listening[0] ?? '');
          if (workers.size >= 2 && match?.[1]) resolve(match[1]);
          else setTimeout(check, 20);
        };
        check();
      });
      // 5 KB paths: each access-log line would be longer than one atomic pipe write. The pipe is
      // not read for a while (as a slow log shipper would), so it fills and writers must wait: that is
      // when writes larger than PIPE_BUF get split and interleaved.
      child.stdout.pause();
      const requests = 400;
      const path = `/v1/whoami/${'p'.repeat(5_000)}`;
      let answered = 0;
      const all = Promise.all(
        Array.from({ length: requests }, async () => {
          const response = await fetch(`${url}${path}`, { headers: { connection: 'close' } });
          await response.arrayBuffer();
          answered++;
        }),
      );
      // Backpressure for up to a second (or until a quarter is answered); correctness does not depend on how long.
      const pausedAt = performance.now();
      while (answered < requests / 4 && performance.now() - pausedAt < 1_000) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      child.stdout.resume();
      await all;
      // Wait until every request has its access-log line (written after the response).
      const accessLines = () => stdout.split('\n').filter((line) => line.includes('/v1/whoami/ppp')).length;
      while (accessLines() < requests) await new Promise((resolve) => setTimeout(resolve, 20));
      const lines = stdout.split('\n').filter(Boolean);
      const broken = lines.filter((line) => {
        try {
          JSON.parse(line);
          return false;
        } catch {
          return true;
        }
      });
      expect(broken).toEqual([]);
      for (const line of lines) expect(Buffer.byteLength(`${line}\n`)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
