// Loaded with `node --import` into a server process under test (crash-exit-log.test.ts): SIGUSR2
// throws an uncaught exception, the crash, from a signal listener (when HMAC_KIT_TEST_CRASH_ON_SIGNAL is set).
if (process.env.HMAC_KIT_TEST_CRASH_ON_SIGNAL) {
  process.on('SIGUSR2', () => {
    throw new Error('crash under test');
  });
}
