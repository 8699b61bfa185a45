// Preloaded (`--require`) into a server of bench/profile-http.js: V8's sampling profiler through
// node:inspector, started on SIGUSR2 (after the warm-up load) and written to HMAC_KIT_PROFILE_OUT
// on SIGTERM, so that start-up and the warm-up stay out of the profile.
const { writeFileSync } = require('node:fs');
const { Session } = require('node:inspector');

const session = new Session();
session.connect();
let started = false;

process.on('SIGUSR2', () => {
  session.post('Profiler.enable', () =>
    session.post(
      'Profiler.setSamplingInterval',
      { interval: Number(process.env.HMAC_KIT_PROFILE_INTERVAL ?? 50) },
      () =>
        session.post('Profiler.start', () => {
          started = true;
        }),
    ),
  );
});

process.on('SIGTERM', () => {
  if (!started) process.exit(0);
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(process.env.HMAC_KIT_PROFILE_OUT, JSON.stringify(result.profile));
    process.exit(0);
  });
});
