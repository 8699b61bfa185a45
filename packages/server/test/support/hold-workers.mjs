// Loaded with `node --import` into a `hmac-kit serve --workers N` under test (startup-signals.test.ts):
// in each cluster worker only, appends the worker's pid to $HMAC_KIT_TEST_HOLD_DIR/workers once held, and
// holds its start-up until $HMAC_KIT_TEST_HOLD_DIR/release exists: workers that are slow to start, for as long
// as the test needs. The supervisor is not held. Where:
// - by default, before the server's code runs at all;
// - with HMAC_KIT_TEST_HOLD_AT=welcome, inside the worker's start-up: the supervisor's `welcome` answer
//   (the stores it shares) is delivered only once released, so the worker has begun and waits for it.
import cluster from 'node:cluster';
import { appendFileSync, existsSync } from 'node:fs';

const dir = process.env.HMAC_KIT_TEST_HOLD_DIR;

function released() {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(`${dir}/release`)) {
        clearInterval(timer);
        resolve(undefined);
      }
    }, 20);
  });
}

if (cluster.isWorker && dir) {
  if (process.env.HMAC_KIT_TEST_HOLD_AT === 'welcome') {
    const emit = process.emit;
    const gate = released();
    process.emit = function heldEmit(event, message, ...rest) {
      if (event === 'message' && message?.hk === 'welcome') {
        // Recorded only now: the worker's own start-up code has run up to its wait for the answer.
        appendFileSync(`${dir}/workers`, `${process.pid}\n`);
        gate.then(() => emit.call(this, event, message, ...rest));
        return true;
      }
      return emit.call(this, event, message, ...rest);
    };
  } else {
    appendFileSync(`${dir}/workers`, `${process.pid}\n`);
    await released();
  }
}
