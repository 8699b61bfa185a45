// Instructions per request of the Express/Fastify apps of bench/adapter-ab.js, from valgrind's
// callgrind: unlike CPU time, an instruction count does not move with the load of a shared
// machine (other tenants, cache thrash, frequency), so two builds compare on a busy machine.
// Instrumentation is switched on only after start-up, signing and --warmup requests (default 1000)
// (`--instr-atstart=no`, then `callgrind_control -i on`), and off again before exit.
//
//   node bench/count-ab.js express none .ab/before .ab/after [--count=1000] [--warmup=1000]
//
// --predictable runs V8's optimising compiler on the main thread, so the count includes the
// compilations that happen inside the counted window: after 1000 warm-up requests TurboFan still
// compiled ~40% of the instructions of 2000 counted Express requests (one-time work a long-running
// server does not repeat per request). --warmup=10000 leaves the steady state; --count below ~2000
// is quantised by garbage collections (one mark-compact more or less moves it by several %).
//
// `none` is the app without authentication. Slow (valgrind): about a minute per build and
// thousand requests on a 2-core machine. Instructions are a proxy: cache misses and the
// kernel's share of a socket are not in them, and this is without sockets.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatInteger, table } from './support.js';

const args = process.argv.slice(2);
const count = Number(args.find((arg) => arg.startsWith('--count='))?.slice(8) ?? 1000);
const warmup = Number(args.find((arg) => arg.startsWith('--warmup='))?.slice(9) ?? 1000);
const [framework, ...builds] = args.filter((arg) => !arg.startsWith('--'));
const script = fileURLToPath(new URL('./adapter-ab.js', import.meta.url));

async function instructions(build) {
  const out = join(tmpdir(), `hmac-kit-count-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${out}`,
      process.execPath,
      // V8 on one thread with fixed seeds: compilation and garbage collection then happen at the
      // same points of every run, so the count repeats (without it, runs of one build differ by 15-20%).
      '--predictable',
      script,
      framework,
      build,
      `--count=${count}`,
      `--warmup=${warmup}`,
      '--handshake',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout });
  const control = (flag) => {
    const result = spawnSync('callgrind_control', [flag, String(child.pid)], { encoding: 'utf8' });
    if (process.env.HMAC_KIT_COUNT_DEBUG) console.error(flag, result.status, result.stdout, result.stderr);
    return result;
  };
  for await (const line of lines) {
    if (line === 'warm') {
      control('--instr=on');
      child.stdin.write('go\n');
    } else if (line === 'done') {
      control('--instr=off');
      child.stdin.write('exit\n');
    }
  }
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`valgrind exited with ${code}: ${stderr.slice(-500)}`);
  const text = readFileSync(out, 'utf8');
  if (!process.env.HMAC_KIT_COUNT_DEBUG) rmSync(out, { force: true });
  if (process.env.HMAC_KIT_COUNT_DEBUG) console.error(out, text.match(/^(summary|totals|events).*$/gm));
  const summary = /^totals: (\d+)/m.exec(text);
  if (!summary) throw new Error('no instruction total in the callgrind output');
  return Number(summary[1]) / count;
}

console.log(
  `load average at the start: ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
const results = [];
for (const build of builds) results.push([build, await instructions(build)]);
const baseline = results.find(([build]) => build === 'none')?.[1];
console.log(`${framework}, ${count} requests after ${warmup} warm-up ones, callgrind instructions (Ir) per request`);
console.log(
  table(
    ['build', 'instructions/req', 'added over none'],
    results.map(([build, value]) => [
      build,
      formatInteger(value),
      baseline === undefined || build === 'none' ? '' : formatInteger(value - baseline),
    ]),
  ),
);
console.log(
  `load average at the end: ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
