/**
 * FIFOs and descriptors for the tests of the log's direct pipe write (log-direct-pipe.test.ts,
 * review17-log-direct-pipe.test.ts): a pipe as a shell gives stdout, reading it without blocking, and
 * what this process holds open.
 */
import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A FIFO with its reading end (non-blocking, for draining) and a blocking writing end, as a shell gives stdout.
 *
 * @example
 * ```ts
 * const { path, reader, writer } = fifo();
 * writeSync(writer, 'line\n');
 * drain(reader); // 'line\n'
 * ```
 */
export function fifo(): { path: string; reader: number; writer: number } {
  const path = join(mkdtempSync(join(tmpdir(), 'hmac-kit-pipe-')), 'pipe');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY);
  return { path, reader, writer };
}

/** Everything readable from `reader` right now (latin1: the bytes). */
export function drain(reader: number): string {
  let read = '';
  const chunk = Buffer.alloc(65_536);
  for (;;) {
    let count: number;
    try {
      count = readSync(reader, chunk);
    } catch {
      break; // EAGAIN: nothing more for now
    }
    if (count <= 0) break;
    read += chunk.subarray(0, count).toString('latin1');
  }
  return read;
}

/** The status flags of this process's descriptor `fd` (octal, /proc/self/fdinfo). */
export function flagsOf(fd: number): number {
  return Number.parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? 'x', 8);
}

/** This process's descriptors whose target is `target` (a FIFO's path, `/dev/null`...). */
export function descriptorsOf(target: string): number[] {
  return readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
}
