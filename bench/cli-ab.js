// A/B of the real `hmac-kit serve` command of two checkouts (each built: `npx tsc -b`), as users start it
// (bench/http.js's CLI rows: SQLite file, a key made with the CLI, stdout a pipe read and dropped), loaded
// by bench/http-load.js in interleaved rounds, 8 connections. Prints the median server CPU per request of
// the whole process tree (supervisor and workers, from /proc) and the write(2) calls per request of the
// top process (`syscw` of /proc/<pid>/io: responses, log writes, a supervisor's IPC answers).
//
//   node bench/cli-ab.js <checkout A> <checkout B> <rounds> <seconds> [forward-auth|django|orders] -- <serve flags>
//   node bench/cli-ab.js /work/wt/old . 6 3 -- --workers 2
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runNode } from '../bench/support.js';

const execFileAsync = promisify(execFile);
const sep = process.argv.indexOf('--');
if (sep < 0)
  throw new TypeError(
    'usage: node bench/cli-ab.js <checkout A> <checkout B> <rounds> <seconds> [mode] -- <serve flags>',
  );
const dirs = [];
const [a, b, roundsText, secsText, mode = 'forward-auth'] = process.argv.slice(2, sep);
const flags = process.argv.slice(sep + 1);
const children = [];
function treeCpu(pid) {
  let total = 0;
  const stat = (p) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return 0;
    }
  };
  const kids = (p) => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return [];
    }
  };
  const walk = (p) => {
    total += stat(p);
    for (const k of kids(p)) walk(k);
  };
  walk(pid);
  return total;
}
async function startCli(repo, extra) {
  const bin = `${repo}/packages/cli/bin/hmac-kit.js`;
  const dir = mkdtempSync(join(tmpdir(), 'hk-ab-'));
  dirs.push(dir);
  const db = join(dir, 'db');
  const env = { ...process.env, HMAC_KIT_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}` };
  const cli = (args) => execFileAsync(process.execPath, [bin, ...args], { env });
  await cli(['--db', db, 'principals', 'add', 'bench', '--kind', 'service']);
  const issued = JSON.parse((await cli(['--db', db, 'keys', 'create', '--principal', 'bench', '--json'])).stdout);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...(process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : []),
        bin,
        '--db',
        db,
        'serve',
        '--port',
        '0',
        '--rate-limit',
        '1000000000/1s',
        ...extra,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    child.stdout.resume();
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => {
      stderr += c;
      const m = /listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (m) {
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve({ url: m[1], keyId: issued.keyId, secret: issued.secret, pid: child.pid });
      }
    });
    child.on('exit', (code) => reject(new Error(`exit ${code} ${stderr}`)));
  });
}
function syscw(pid) {
  try {
    return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
  } catch {
    return 0;
  }
}
async function load(server, seconds) {
  const w0 = syscw(server.pid);
  const before = treeCpu(server.pid);
  const out = JSON.parse(
    await runNode([new URL('../bench/http-load.js', import.meta.url).pathname], {
      input: JSON.stringify({
        url: server.url,
        mode,
        keyId: server.keyId,
        secret: server.secret,
        seconds,
        connections: 8,
        signatures: mode === 'django' ? 1 : Math.max(20000, seconds * 12000),
      }),
    }),
  );
  return {
    cpu: ((treeCpu(server.pid) - before) / out.total) * 1e6,
    rps: out.requestsPerSecond,
    bad: out.non2xx + out.errors,
    writes: (syscw(server.pid) - w0) / out.total,
  };
}
try {
  console.log(
    `load ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}; flags ${flags.join(' ')}; mode ${mode}`,
  );
  const servers = [
    ['A', a, await startCli(a, flags)],
    ['B', b, await startCli(b, flags)],
  ];
  for (const [, , s] of servers) await load(s, 1);
  const res = { A: [], B: [] };
  for (let r = 0; r < Number(roundsText); r++)
    for (const [l, , s] of r % 2 ? [...servers].reverse() : servers) {
      const x = await load(s, Number(secsText));
      res[l].push(x);
      if (x.bad) console.log(`${l} non-2xx ${x.bad}`);
    }
  const med = (xs) => {
    const s = [...xs].sort((p, q) => p - q);
    return s[Math.floor(s.length / 2)];
  };
  for (const [l, d] of servers)
    console.log(
      `${l} ${d}: ${med(res[l].map((x) => x.rps)).toFixed(0)} req/s, ${med(res[l].map((x) => x.cpu)).toFixed(1)} µs CPU/req (rounds ${res[l].map((x) => x.cpu.toFixed(0)).join(' ')}); write syscalls/req ${med(res[l].map((x) => x.writes)).toFixed(2)}`,
    );
  console.log(
    `B/A ${(med(res.B.map((x) => x.cpu)) / med(res.A.map((x) => x.cpu))).toFixed(2)}x; load at end ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
} finally {
  for (const c of children) {
    c.removeAllListeners('exit');
    c.kill('SIGTERM');
  }
  await Promise.all(children.map((c) => new Promise((done) => (c.exitCode === null ? c.once('exit', done) : done()))));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
