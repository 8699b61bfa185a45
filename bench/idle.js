// Idle cost of `hmac-kit serve`: the CPU an idle server burns (all threads of the supervisor and its
// workers, from /proc/<pid>/task/*/schedstat, nanoseconds) and how often its main threads wake up
// (voluntary context switches), over a quiet window after start. Target: < 0.1% of one core.
//
//   node bench/idle.js                      # 150 s of quiet, then a 60 s window, per configuration
//   node bench/idle.js --seconds=300        # longer windows
//   node bench/idle.js --settle=0           # include the start-up garbage collections
//   node bench/idle.js --cli=/other/clone/packages/cli/bin/hmac-kit.js   # measure another build
//
// Runs the built CLI (`npm run build` first). PostgreSQL + Redis configurations run when the local
// services answer (a database is created for the run and dropped after it).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const quick = args.includes('--quick') || process.env.HMAC_KIT_BENCH_QUICK === '1';
const seconds = Number(option('seconds', quick ? '15' : '60'));
const cli = option('cli', join(root, 'packages/cli/bin/hmac-kit.js'));
// After start V8 still shrinks the start-up heap: its memory reducer runs a few full GCs (100-200 ms of
// CPU over the main thread and V8's helper threads, once per process) about 100 s into the quiet
// (seen with --trace-gc as "Mark-Compact (reduce)"). The window measures the steady state that
// follows; --settle=0 includes that one-off.
const settleMs = Number(option('settle', quick ? '45' : '150')) * 1000;
const pgUrl = process.env.HMAC_KIT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.HMAC_KIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The process and its descendants (a supervisor's workers). */
function processTree(pid) {
  const pids = [pid];
  for (let index = 0; index < pids.length; index++) {
    for (const task of safeList(`/proc/${pids[index]}/task`)) {
      const children = safeRead(`/proc/${pids[index]}/task/${task}/children`).trim();
      if (children) pids.push(...children.split(/\s+/).map(Number));
    }
  }
  return pids;
}

function safeList(path) {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function safeRead(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** CPU nanoseconds used so far by every thread of every process of the tree, and main-thread wakeups. */
function sample(pid) {
  let cpuNs = 0;
  let wakeups = 0;
  for (const member of processTree(pid)) {
    for (const task of safeList(`/proc/${member}/task`)) {
      cpuNs += Number(safeRead(`/proc/${member}/task/${task}/schedstat`).split(' ')[0] || 0);
    }
    const status = safeRead(`/proc/${member}/task/${member}/status`);
    wakeups += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
  }
  return { cpuNs, wakeups, processes: processTree(pid).length };
}

function startServe(extraArgs, env) {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-idle-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--log-level', 'warn', ...extraArgs], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      // The human start-up note goes to stderr once every worker listens (the JSON logs are at warn).
      if (stderr.includes('listening on')) resolve({ child, dir });
    });
    child.stdout.resume();
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr.trim()}`)));
  });
}

async function measure(name, extraArgs, env = {}) {
  const { child, dir } = await startServe(extraArgs, env);
  try {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const before = sample(child.pid);
    const started = process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
    const after = sample(child.pid);
    const cpuMs = (after.cpuNs - before.cpuNs) / 1e6;
    return {
      name,
      processes: after.processes,
      seconds: elapsedS,
      cpuMs,
      fraction: cpuMs / 1000 / elapsedS,
      wakeupsPerSecond: (after.wakeups - before.wakeups) / elapsedS,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withPostgresAndRedis(run) {
  let pg;
  try {
    ({ default: pg } = await import('pg'));
  } catch {
    return undefined;
  }
  const admin = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 1500 });
  try {
    await admin.connect();
  } catch {
    return undefined;
  }
  const database = `hmac_kit_idle_${randomBytes(6).toString('hex')}`;
  await admin.query(`create database ${database}`);
  const url = new URL(pgUrl);
  url.pathname = `/${database}`;
  try {
    return await run(url.toString());
  } finally {
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
}

const masterKeys = `mk-idle:${randomBytes(32).toString('base64')}`;
const results = [];
/** One configuration; a build that cannot run it (an older CLI without --workers) is reported, not fatal. */
async function attempt(name, extraArgs, env) {
  try {
    results.push(await measure(name, extraArgs, env));
  } catch (error) {
    console.log(`(${name}: not measured: ${error.message.split('\n')[0]})`);
  }
}
await attempt('SQLite, 1 process', [], { HMAC_KIT_WORKERS: '1' });
await attempt('SQLite, 2 workers + supervisor', ['--workers', '2']);
const reachable = await withPostgresAndRedis((database) =>
  attempt('PostgreSQL + Redis, 1 process', ['--db', database, '--redis', redisUrl], {
    HMAC_KIT_WORKERS: '1',
    HMAC_KIT_MASTER_KEYS: masterKeys,
  }).then(() => true),
);
if (!reachable) console.log('(PostgreSQL + Redis not reachable: that configuration is skipped)');

console.log(
  `\n## Idle cost of hmac-kit serve (bench/idle.js: ${seconds} s windows after ${settleMs / 1000} s of quiet, ${cli})\n`,
);
console.log('| configuration | processes | CPU over the window | % of one core | main-thread wakeups/s | < 0.1% |');
console.log('|---|---|---|---|---|---|');
for (const result of results) {
  const percent = result.fraction * 100;
  console.log(
    `| ${result.name} | ${result.processes} | ${result.cpuMs.toFixed(1)} ms / ${result.seconds.toFixed(1)} s | ${percent.toFixed(3)}% | ${result.wakeupsPerSecond.toFixed(1)} | ${percent < 0.1 ? 'PASS' : 'FAIL'} |`,
  );
}
