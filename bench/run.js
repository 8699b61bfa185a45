// `npm run bench`: builds the packages, then runs every benchmark, each in its own process,
// and ends with the PASS/FAIL summary of the targets.
//
//   npm run bench                      # everything (about 8 minutes on 2 cores)
//   npm run bench -- --quick           # short rounds, for a smoke test
//   npm run bench -- --only=sign,http  # some sections: sign, body, http, inprocess, keys, limits, profile
//   npm run bench -- --no-build        # skip `tsc -b`
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');

const sections = [
  { id: 'sign', title: '1. sign/verify', command: ['bench/sign-verify.js'] },
  { id: 'body', title: '2. body digests', command: ['bench/body.js'] },
  { id: 'http', title: '3. HTTP', command: ['bench/http.js'] },
  { id: 'inprocess', title: '3b. in-process middleware', command: ['bench/in-process.js'] },
  { id: 'keys', title: '4a. key store', command: ['bench/key-store.js'] },
  {
    id: 'limits',
    title: '4b. replay + rate limits (bench/limits.ts)',
    command: ['--import', 'tsx', 'bench/limits.ts'],
    env: { HMAC_KIT_BENCH_MS: quick ? '300' : '1500' },
    header: '\n## 4b. Replay and rate-limit checks, memory vs Redis (bench/limits.ts, wall clock)\n',
  },
  { id: 'profile', title: '5. CPU profile', command: ['bench/profile.js', 'rfc9421', quick ? '1' : '3'] },
];

function run(section) {
  return new Promise((resolve) => {
    if (section.header) process.stdout.write(section.header);
    const child = spawn(process.execPath, [...section.command, ...(quick ? ['--quick'] : [])], {
      cwd: root,
      env: { ...process.env, ...section.env, ...(quick ? { HMAC_KIT_BENCH_QUICK: '1' } : {}) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      output += chunk;
      process.stdout.write(chunk);
    });
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const started = Date.now();
if (!existsSync(`${root}bench/peers/node_modules/hmac-auth-express`)) {
  // Its own little project: the peer's express@4 requirement cannot sit in the root devDependencies.
  console.log('installing benchmark-only peers: npm install --prefix bench/peers');
  try {
    execFileSync('npm', ['install', '--prefix', 'bench/peers', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: root,
      stdio: 'inherit',
    });
  } catch {
    console.log('could not install bench/peers: hmac-auth-express rows will be missing');
  }
}
// Benchmark 3's load generator is wrk (Debian's package), as .ci/run installs the tests' Debian
// packages: installed here when it is missing and this is a root shell with apt-get; otherwise the
// section says so and falls back to autocannon.
const wantsHttp = !only || only.includes('http');
const hasWrk = () => spawnSync(process.env.HMAC_KIT_BENCH_WRK ?? 'wrk', ['--version']).error === undefined;
if (wantsHttp && process.env.HMAC_KIT_BENCH_LOAD !== 'autocannon' && !hasWrk()) {
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).error === undefined) {
    console.log('installing the HTTP load generator: apt-get install wrk');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install =
      update.status === 0
        ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'wrk'], { stdio: 'inherit', env })
        : update;
    if (install.status !== 0) console.log('could not install wrk: benchmark 3 will use autocannon');
  } else {
    console.log('wrk is not installed (apt-get install wrk): benchmark 3 will use autocannon');
  }
}
if (!args.includes('--no-build')) {
  console.log('building: npx tsc -b');
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b'], { cwd: root, stdio: 'inherit' });
}
console.log(
  `# hmac-kit benchmarks ${new Date().toISOString()}\n` +
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB RAM, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}${quick ? ', QUICK mode (not for the record)' : ''}`,
);

const verdicts = [];
const failedSections = [];
for (const section of sections) {
  if (only && !only.includes(section.id)) continue;
  const { code, output } = await run(section);
  if (code !== 0) failedSections.push(`${section.title} (exit ${code})`);
  for (const line of output.split('\n')) if (/^(PASS|FAIL) {2}/.test(line)) verdicts.push(line);
}

console.log('\n## Targets\n');
for (const line of verdicts) console.log(line);
for (const section of failedSections) console.log(`ERROR  section ${section} did not complete`);
const failed = verdicts.filter((line) => line.startsWith('FAIL')).length;
console.log(
  `\n${verdicts.length - failed} of ${verdicts.length} targets pass; finished in ${Math.round((Date.now() - started) / 1000)} s` +
    `; load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);
