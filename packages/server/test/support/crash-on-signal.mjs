// Loaded with `node --import` into a server process under test (crash-exit-log.test.ts): SIGUSR2
// throws an uncaught exception, the crash, from a signal listener (when HMAC_KIT_TEST_CRASH_ON_SIGNAL is set).
// With HMAC_KIT_TEST_SLOW_LOG_MS set, every write to stdout through fs.write (sonic-boom's) completes
// that many milliseconds late: a log reader that keeps up slowly, without blocking the event loop
// (adversarial/review15-crash-stops-serving.test.ts).
import fs from 'node:fs';

if (process.env.HMAC_KIT_TEST_CRASH_ON_SIGNAL) {
  process.on('SIGUSR2', () => {
    throw new Error('crash under test');
  });
}
const slowLogMs = Number(process.env.HMAC_KIT_TEST_SLOW_LOG_MS ?? 0);
if (slowLogMs > 0) {
  const write = fs.write;
  fs.write = function slowWrite(fd, ...rest) {
    const callback = rest.pop();
    if (fd !== 1 || typeof callback !== 'function') return write.call(this, fd, ...rest, callback);
    return write.call(this, fd, ...rest, (...results) => setTimeout(() => callback(...results), slowLogMs));
  };
}
