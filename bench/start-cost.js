// Start-up CPU of `hmac-kit serve` and of short CLI commands, checkouts side by side (each built:
// `npx tsc -b` and `node scripts/bundle-dependencies.mjs`). Starts are interleaved (checkout A, B,
// A, B, ...) so load on a shared machine falls on both alike; prints medians of user + system CPU
// seconds and each checkout's ratio to the first.
//   serve:     `hmac-kit serve --port 0` in a fresh folder (default SQLite store created, as the tests'
//              startServe does), HMAC_KIT_WORKERS=1; CPU of the process tree read from /proc when
//              stdout logs "listening", then SIGKILL.
//   serve-w2:  the same with --workers 2 (supervisor + both workers, at the supervisor's "listening").
//   serve-again: `serve` on a folder whose database exists already (a restart).
//   keys-list / version / help: the CLI command to its exit (`/usr/bin/time -f '%U %S'`).
// `--callgrind`: instead of CPU time, instructions (valgrind's callgrind, `node --predictable`, so the
// count repeats and does not move with the machine's load) of serve (exits at its "listening on"
// banner, through bench/exit-on-listen.mjs), keys-list, version and help; ~50x slower, use few rounds.
//
//   node bench/start-cost.js [--rounds 10] [--modes serve,serve-w2,keys-list,version] <checkout> [<checkout> ...]
//   node bench/start-cost.js --callgrind --rounds 2 --modes serve,keys-list /tmp/before .
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOf, median, table } from './support.js';

const args = process.argv.slice(2);
let rounds = 10;
let modes = ['serve', 'serve-w2', 'keys-list', 'version'];
let callgrind = false;
const checkouts = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else if (args[i] === '--callgrind') callgrind = true;
  else if (args[i] === '--modes') modes = args[++i].split(',');
  else checkouts.push(resolve(args[i]));
}
if (checkouts.length === 0) {
  throw new TypeError('usage: node bench/start-cost.js [--rounds N] [--modes serve,serve-w2,...] <checkout> ...');
}
const binOf = (checkout) => join(checkout, 'packages/cli/bin/hmac-kit.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HMAC_KIT_')));

function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

function treeCpu(pid) {
  let total = 0;
  try {
    total += cpuSecondsOf(pid);
  } catch {}
  for (const child of children(pid)) total += treeCpu(child);
  return total;
}

/** Starts serve in `dir`, resolves with the tree's CPU seconds at its "listening" log line. */
function serveStart(checkout, dir, extra) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [binOf(checkout), 'serve', '--port', '0', ...extra], {
      cwd: dir,
      env: { ...env, HMAC_KIT_WORKERS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('exit', (code) => fail(new Error(`serve exited (${code}) before listening: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.includes('"msg":"listening"')) return;
      const cpu = treeCpu(child.pid);
      child.removeAllListeners('exit');
      // The whole group: a supervisor's workers too.
      child.once('exit', () => done(cpu));
      for (const pid of children(child.pid)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
      child.kill('SIGKILL');
    });
  });
}

const exitOnListen = fileURLToPath(new URL('./exit-on-listen.mjs', import.meta.url));

/** Instructions (millions) of `node --predictable <bin> <cliArgs>` to its exit, from callgrind's summary. */
function counted(checkout, cliArgs, cwd, extraEnv = {}) {
  return new Promise((done, fail) => {
    execFile(
      'valgrind',
      [
        '--tool=callgrind',
        '--callgrind-out-file=/dev/null',
        process.execPath,
        '--predictable',
        '--import',
        exitOnListen,
        binOf(checkout),
        ...cliArgs,
      ],
      { cwd, env: { ...env, ...extraEnv }, maxBuffer: 1 << 26 },
      (error, _stdout, stderr) => {
        const match = /Collected : (\d+)/.exec(stderr);
        if (error || !match) fail(new Error(`${cliArgs.join(' ')}: ${error?.message ?? ''} ${stderr.slice(-2000)}`));
        else done(Number(match[1]) / 1e6);
      },
    );
  });
}

function timed(checkout, cliArgs, cwd) {
  if (callgrind) return counted(checkout, cliArgs, cwd);
  return new Promise((done, fail) => {
    execFile(
      '/usr/bin/time',
      ['-f', 'CPU %U %S', process.execPath, binOf(checkout), ...cliArgs],
      { cwd, env },
      (error, _stdout, stderr) => {
        const match = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
        if (error || !match) fail(new Error(`${cliArgs.join(' ')}: ${error?.message ?? ''} ${stderr}`));
        else done(Number(match[1]) + Number(match[2]));
      },
    );
  });
}

const dirs = [];
const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-start-'));
  dirs.push(dir);
  return dir;
};
// One existing database per checkout (created by a first start) for serve-again and keys-list.
const existing = new Map();
async function existingFolder(checkout) {
  if (!existing.has(checkout)) {
    const dir = folder();
    await serveStart(checkout, dir, []);
    await timed(checkout, ['principals', 'add', 'bench', '--kind', 'service'], dir);
    await timed(checkout, ['keys', 'create', '--principal', 'bench'], dir);
    existing.set(checkout, dir);
  }
  return existing.get(checkout);
}

const runs = {
  serve: (checkout) =>
    callgrind
      ? counted(checkout, ['serve', '--port', '0'], folder(), { HMAC_KIT_WORKERS: '1' })
      : serveStart(checkout, folder(), []),
  'serve-w2': (checkout) => serveStart(checkout, folder(), ['--workers', '2']),
  'serve-again': async (checkout) => serveStart(checkout, await existingFolder(checkout), []),
  'keys-list': async (checkout) => timed(checkout, ['keys', 'list'], await existingFolder(checkout)),
  version: (checkout) => timed(checkout, ['--version'], tmpdir()),
  help: (checkout) => timed(checkout, ['--help'], tmpdir()),
};

const startLoad = loadavg()[0];
const samples = new Map(modes.map((mode) => [mode, checkouts.map(() => [])]));
try {
  for (const mode of modes) if (!runs[mode]) throw new TypeError(`unknown mode ${mode}`);
  if (callgrind && modes.some((mode) => mode.startsWith('serve-')))
    throw new TypeError('--callgrind: serve, keys-list, version, help');
  for (const checkout of checkouts) await existingFolder(checkout);
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      // Alternate which checkout goes first.
      const order = checkouts.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) samples.get(mode)[i].push(await runs[mode](checkouts[i]));
    }
  }
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
const rows = modes.map((mode) => {
  const medians = samples.get(mode).map(median);
  return [
    mode,
    ...medians.map(
      (value, i) =>
        `${callgrind ? `${value.toFixed(1)} M instr` : `${value.toFixed(3)} s`}${i === 0 ? '' : ` (${(value / medians[0]).toFixed(2)}x)`}`,
    ),
  ];
});
console.log(
  `start-up ${callgrind ? 'instructions (callgrind, node --predictable)' : 'CPU (user + sys)'}, median of ${rounds} interleaved starts; load ${startLoad.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`,
);
console.log(table(['mode', ...checkouts], rows));
