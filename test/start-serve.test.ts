/**
 * The test harness's startServe (test-support/processes.ts): a serve that neither listens nor exits
 * is killed at the cap, and the rejection tells why it may have been slow: the load average and the
 * last lines of its stderr and its log (it dumped the whole stderr, and gave up after 45 s, tight
 * for `--workers` at a load average above 20). A stand-in bin plays the stuck server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServe, tempDir } from '../test-support/processes.js';

/** A script that writes `lines` numbered stderr lines and one log line, then waits for ever. */
function stuckBin(lines: number): string {
  const bin = join(tempDir(), 'stuck-serve.mjs');
  writeFileSync(
    bin,
    [
      `for (let n = 1; n <= ${lines}; n++) process.stderr.write('stderr line ' + String(n).padStart(3, '0') + '\\n');`,
      `process.stdout.write(JSON.stringify({ msg: 'starting worker', worker: 2 }) + '\\n');`,
      'setInterval(() => {}, 1000);',
    ].join('\n'),
  );
  return bin;
}

describe('startServe: a serve that does not start in time', () => {
  it('is killed at the cap and reported with the load average and the last 20 lines of its stderr and log', async () => {
    const error = await startServe([], { bin: stuckBin(60), timeoutMs: 1_500 }).then(
      () => undefined,
      (reason: Error) => reason,
    );
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/did not log "listening" within 1500 ms \(load average [\d.]+ [\d.]+ [\d.]+\); killed/);
    expect(message).toContain('stderr line 060');
    expect(message).toContain('stderr line 041');
    // Before: the whole stderr, from its first line.
    expect(message).not.toContain('stderr line 040');
    expect(message).not.toContain('stderr line 001');
    expect(message).toContain('"msg":"starting worker"');
  });
});
