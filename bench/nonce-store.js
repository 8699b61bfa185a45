// Cost of the memory nonce store at sustained request rates: ns per checkAndStoreNow and GC time,
// with the store held at a steady size (entries expire as fast as they arrive), for one or more
// checkouts side by side. Short benchmarks (bench/count-*.js, ~2,000 requests) never fill the
// store; a server at 3,300 req/s holds 1M entries over the default 305 s acceptance window, and
// every entry is something the GC keeps tracing.
//
//   node bench/nonce-store.js <checkout A> [<checkout B> ...] [--sizes=0,100000,1000000] [--rounds=3]
//   node bench/nonce-store.js /tmp/base . noop
//
// A checkout is a directory with a built packages/limits/dist (`npx tsc -b`); `noop` is a store
// that accepts everything and keeps nothing (the floor: nonce generation and the loop).
// Each (checkout, size) runs in a fresh child process (its own heap, so one store's garbage is
// not another's GC), in interleaved rounds. The injected clock moves 305 s / size per operation,
// so the store holds `size` unexpired entries throughout the measured operations: 22-character
// base64url nonces (16 random bytes, fresh strings as a header parser makes) over 16 key ids
// shaped like hk_XXXXXXXXXXXXXXXXXXXXXX. GC time: the `gc` performance entries (all kinds) during
// the measured operations; bytes per entry: heapUsed + arrayBuffers after a full GC, store full vs
// empty (the random-byte pool is allocated before both readings).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { loadAverage, median } from './support.js';

const WINDOW_SECONDS = 305;

if (process.argv[2] === '--child') {
  const [, , , checkout, sizeText, measuredText] = process.argv;
  const size = Number(sizeText);
  const measured = Number(measuredText);
  let clock = 1_700_000_000_000;
  const store =
    checkout === 'noop'
      ? { checkAndStoreNow: () => true }
      : (await import(pathToFileURL(resolve(checkout, 'packages/limits/dist/index.js')).href)).memoryNonceStore({
          maxEntries: Math.max(size * 2, 1000),
          now: () => clock,
        });
  const keyIds = Array.from({ length: 16 }, () => `hk_${randomBytes(16).toString('base64url')}`);
  const random = randomBytes(1 << 20);
  const step = (WINDOW_SECONDS * 1000) / Math.max(size, 1);
  let offset = 0;
  let accepted = 0;
  const operate = (count) => {
    for (let index = 0; index < count; index++) {
      if (offset + 16 > random.length) {
        // New random bytes would cost a CSPRNG call in the loop; a shifted view is as unique for this purpose.
        random.writeUInt32LE((random.readUInt32LE(0) + 1) >>> 0, 0);
        offset = (offset % 15) + 1;
      }
      const nonce = random.toString('base64url', offset, offset + 16);
      offset += 16;
      clock += step;
      if (store.checkAndStoreNow(keyIds[index & 15], nonce, WINDOW_SECONDS)) accepted++;
    }
  };
  // Typed arrays keep their contents outside the V8 heap (`arrayBuffers`): both count as memory.
  const heapAndBuffers = () => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  globalThis.gc();
  const emptyHeap = heapAndBuffers();
  operate(size); // fill to the steady size
  operate(Math.min(size, 200_000)); // and turn part of it over: warm code, entries expiring
  globalThis.gc();
  const fullHeap = heapAndBuffers();
  let gcMs = 0;
  let gcCount = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration;
      gcCount++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  operate(measured);
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  // GC entries are delivered asynchronously.
  await new Promise((done) => setTimeout(done, 50));
  observer.disconnect();
  process.stdout.write(
    `${JSON.stringify({
      nsPerOp: (elapsed * 1e6) / measured,
      cpuNsPerOp: ((cpu.user + cpu.system) * 1000) / measured,
      gcNsPerOp: (gcMs * 1e6) / measured,
      gcCount,
      bytesPerEntry: size > 0 ? (fullHeap - emptyHeap) / size : 0,
      accepted,
    })}\n`,
  );
  process.exit(0);
}

const args = process.argv.slice(2);
const option = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const sizes = option('sizes', '0,100000,1000000').split(',').map(Number);
const rounds = Number(option('rounds', 3));
const checkouts = args.filter((a) => !a.startsWith('--'));
if (checkouts.length === 0)
  throw new TypeError('usage: node bench/nonce-store.js <checkout|noop> ... [--sizes=] [--rounds=]');

console.log(`load average at the start: ${loadAverage()}`);
const results = new Map();
for (let round = 0; round < rounds; round++) {
  for (const size of sizes) {
    for (const checkout of checkouts) {
      // At least two full turnovers of a large store, so that its entries meet old-space GC.
      const measured = Math.max(1_000_000, size * 2);
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', new URL(import.meta.url).pathname, '--child', checkout, String(size), String(measured)],
        { encoding: 'utf8' },
      );
      const key = `${checkout}\t${size}`;
      if (!results.has(key)) results.set(key, []);
      results.get(key).push(JSON.parse(out));
    }
  }
}
console.log(`steady store size, checkout: median of ${rounds} rounds (ns per checkAndStoreNow, wall / CPU / of it GC)`);
console.log('size\tcheckout\tns/op\tcpu ns/op\tgc ns/op\tgc events\tbytes/entry');
for (const [key, runs] of results) {
  const pick = (field) => median(runs.map((run) => run[field]));
  console.log(
    `${key.split('\t')[1]}\t${key.split('\t')[0]}\t${pick('nsPerOp').toFixed(0)}\t${pick('cpuNsPerOp').toFixed(0)}\t${pick('gcNsPerOp').toFixed(0)}\t${pick('gcCount')}\t${pick('bytesPerEntry').toFixed(0)}`,
  );
}
console.log(`load average at the end: ${loadAverage()}`);
