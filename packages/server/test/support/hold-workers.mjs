// Loaded with `node --import` into a `hmac-kit serve --workers N` under test (startup-signals.test.ts):
// in each cluster worker only, appends the worker's pid to $HMAC_KIT_TEST_HOLD_DIR/workers, then holds
// its start-up (before the server's code runs) until $HMAC_KIT_TEST_HOLD_DIR/release exists: workers
// that are slow to start, for as long as the test needs. The supervisor is not held.
import cluster from 'node:cluster';
import { appendFileSync, existsSync } from 'node:fs';

const dir = process.env.HMAC_KIT_TEST_HOLD_DIR;
if (cluster.isWorker && dir) {
  appendFileSync(`${dir}/workers`, `${process.pid}\n`);
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(`${dir}/release`)) {
        clearInterval(timer);
        resolve(undefined);
      }
    }, 20);
  });
}
