// Instructions per access-log line of `hmac-kit serve` at its default log level (info), for two (or
// more) checkouts, from valgrind's callgrind: the server's own access line (packages/server/dist
// logger.js: `writeAccessLine` into `createLogger('info')`'s batched stdout, here a file descriptor on
// /dev/null), a forward-auth 200's fields, in process. What `serve` adds per request at info over
// --log-level silent, without the HTTP request around it: bench/serve-count.js counts that too, but
// under valgrind a request takes ~50x its time, so the batch's 25 ms timer fires every few lines
// instead of every few hundred and the key cache's 500 ms poll lands in the window; here the lines
// are written back to back, and every 16 lines the write in progress completes, as under load
// (a dozen lines per write(2)).
//
//   node bench/access-line-count.js <checkout A> <checkout B> [--count=20000] [--warmup=20000] [--fifo]
//
// --fifo: the destination is a FIFO instead of /dev/null (stdout as a shell's `|` or containerd gives
// it: since session 16 the logger writes its batches into a pipe from the calling thread), drained by
// the child itself every 16 lines (a non-blocking read: the same reads for every checkout).

import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { constants, mkdtempSync, openSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { countChildPerRequest, netOfCompilation } from './callgrind.js';
import { loadAverage } from './support.js';

const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 20_000);
const warmup = option('warmup', 20_000);
const checkouts = args.filter((a) => !a.startsWith('--'));
const fifo = args.includes('--fifo');

/** The destination's descriptor, and a drain of what was written (a FIFO's reading end; nothing for /dev/null). */
function sink() {
  if (!fifo) return { fd: openSync('/dev/null', 'w'), drain: () => {} };
  const path = join(mkdtempSync(join(tmpdir(), 'hmac-kit-line-')), 'pipe');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const chunk = Buffer.alloc(65_536);
  const drain = () => {
    for (;;) {
      try {
        if (readSync(reader, chunk) <= 0) return;
      } catch {
        return; // EAGAIN: empty
      }
    }
  };
  return { fd: openSync(path, constants.O_WRONLY), drain };
}

/** The child: writes warmup lines, then `count` more when the parent says `go`. */
async function child(checkout) {
  const logger = await import(pathToFileURL(resolve(checkout, 'packages/server/dist/logger.js')).href);
  const { fd, drain } = sink();
  const destination = logger.batchedStdout(fd);
  const log = logger.createLogger('info', destination);
  const hex = '0123456789abcdef';
  let serial = 0;
  const write = async (amount) => {
    for (let index = 0; index < amount; index++) {
      serial++;
      // A fresh 32-hex-digit request id per line, as newRequestId() makes them.
      const reqId = `${hex[serial & 15]}${serial.toString(16).padStart(31, '0')}`;
      logger.writeAccessLine(
        log,
        {
          reqId,
          method: 'GET',
          path: '/verify',
          status: 200,
          ms: Math.round((serial % 997) * 0.37) / 100,
          keyId: 'hk_2b7Qm9vXc4LpT1sZ8yRd',
          scheme: 'rfc9421',
          remote: '127.0.0.1',
        },
        // The server's word that its request id is plain (app.ts accessLog, since session 22; a
        // checkout before it ignores the argument and checks the id).
        true,
      );
      // Every 16 lines the write in progress (if any) completes, as between a server's bursts;
      // without the wait sonic-boom's buffer grew and the count was the garbage collector's.
      if (index % 16 === 15) {
        drain();
        if (destination._writing) await once(destination, 'drain');
      }
    }
  };
  await write(warmup);
  const lines = createInterface({ input: process.stdin });
  console.log('warm');
  for await (const line of lines) {
    if (line === 'go') {
      await write(count);
      console.log('done');
    } else if (line === 'exit') break;
  }
  lines.close();
  log.flush();
}

function instructions(checkout) {
  return countChildPerRequest(
    [
      fileURLToPath(import.meta.url),
      checkout,
      `--count=${count}`,
      `--warmup=${warmup}`,
      '--child',
      ...(fifo ? ['--fifo'] : []),
    ],
    count,
  );
}

if (checkouts.length === 0)
  throw new TypeError('usage: node bench/access-line-count.js <checkout> [<checkout> ...] [--count=N] [--warmup=N]');
if (args.includes('--child')) {
  await child(checkouts[0]);
} else {
  console.log(`load average at the start: ${loadAverage()}`);
  const counted = [];
  for (const checkout of checkouts) counted.push([checkout, await instructions(checkout)]);
  console.log(
    `access-log lines (writeAccessLine into createLogger('info'), ${fifo ? 'a FIFO drained every 16 lines' : '/dev/null'}), ${count} after ${warmup} warm-up ones, callgrind instructions (Ir) per line, compilation excluded`,
  );
  console.log(netOfCompilation('checkout', counted));
  console.log(`load average at the end: ${loadAverage()}`);
}
