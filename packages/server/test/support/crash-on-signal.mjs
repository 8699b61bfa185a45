// Loaded with `node --import` into a server process under test (crash-exit-log.test.ts): SIGUSR2
// throws an uncaught exception, the crash, from a signal listener (when HMAC_KIT_TEST_CRASH_ON_SIGNAL is set).
// With HMAC_KIT_TEST_SLOW_LOG_MS set, a write to stdout through fs.write (sonic-boom's) that carries
// an access line completes that many milliseconds after the crash (never before it): a log reader
// that keeps up slowly, without blocking the event loop, whose write is in flight when the crash
// comes (adversarial/review15-crash-stops-serving.test.ts). What the test waits for is said on stderr
// (support/crash.ts: the same strings).
import fs from 'node:fs';

/** On stderr when the process's 'exit' listeners run. */
const EXIT_LISTENERS_RUN = 'crash hook: exit listeners run';
/** On stderr when a slowed stdout write carrying an access line starts. */
const ACCESS_WRITE_IN_FLIGHT = 'crash hook: an access line write is in flight';

/** Completions of slowed writes, held until the crash. */
const heldUntilCrash = [];
let crashed = false;
const slowLogMs = Number(process.env.HMAC_KIT_TEST_SLOW_LOG_MS ?? 0);

if (process.env.HMAC_KIT_TEST_CRASH_ON_SIGNAL) {
  process.on('SIGUSR2', () => {
    crashed = true;
    for (const complete of heldUntilCrash.splice(0)) complete();
    throw new Error('crash under test');
  });
  // Registered before the server's own 'exit' listeners (pino's exit flush among them, added when the
  // logger is made): tells the test that the process is exiting and its exit flush starts now.
  process.on('exit', () => {
    try {
      fs.writeSync(2, `${EXIT_LISTENERS_RUN}\n`);
    } catch {
      // stderr closed: the test waits for the exit instead.
    }
  });
}
if (slowLogMs > 0) {
  const write = fs.write;
  fs.write = function slowWrite(fd, ...rest) {
    const callback = rest.pop();
    if (fd !== 1 || typeof callback !== 'function' || !String(rest[0]).includes('"msg":"request"')) {
      return write.call(this, fd, ...rest, callback);
    }
    fs.writeSync(2, `${ACCESS_WRITE_IN_FLIGHT}\n`);
    return write.call(this, fd, ...rest, (...results) => {
      const complete = () => setTimeout(() => callback(...results), slowLogMs);
      if (crashed) complete();
      else heldUntilCrash.push(complete);
    });
  };
}
