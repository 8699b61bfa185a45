// Preloaded (`--require`) into a server of bench/profile-http.js: V8's sampling profiler through
// node:inspector, started on SIGUSR2 (after the warm-up load) and written to HMAC_KIT_PROFILE_OUT
// on SIGTERM, so that start-up and the warm-up stay out of the profile. With HMAC_KIT_PROFILE_HEAP=<bytes>
// the sampling heap profiler instead (one sample per <bytes> allocated on average), counting objects a
// scavenge or a mark-compact collected too: where the bytes are allocated, not what stays.
const { writeFileSync } = require('node:fs');
const { Session } = require('node:inspector');

const session = new Session();
session.connect();
let started = false;
const heap = Number(process.env.HMAC_KIT_PROFILE_HEAP ?? 0);

process.on('SIGUSR2', () => {
  if (heap > 0) {
    session.post('HeapProfiler.enable', () =>
      session.post(
        'HeapProfiler.startSampling',
        { samplingInterval: heap, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true },
        () => {
          started = true;
        },
      ),
    );
    return;
  }
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
  session.post(heap > 0 ? 'HeapProfiler.stopSampling' : 'Profiler.stop', (error, result) => {
    if (!error) writeFileSync(process.env.HMAC_KIT_PROFILE_OUT, JSON.stringify(result.profile));
    process.exit(0);
  });
});
