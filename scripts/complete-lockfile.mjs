#!/usr/bin/env node
// Restores lockfile entries for platform-specific optional dependencies (biome, rollup, esbuild
// binaries for other operating systems and CPUs).
//
// Why: when the registry an `npm install` talks to serves only this machine's platform packages,
// npm leaves the other platforms' entries out of package-lock.json, and `npm ci` then refuses the
// lockfile ("Missing: @biomejs/cli-darwin-arm64@ from lock file") on every machine. Each missing
// entry is added back with the version its parent pins and the os/cpu/libc its name states, so
// npm ci skips it on other platforms and fetches it by name and version where it applies.
//
// Run after changing dependencies: `npm install && node scripts/complete-lockfile.mjs`.
// `--check` (part of `npm test`) only reports, and fails when an entry is missing.
import { readFileSync, writeFileSync } from 'node:fs';

const OPERATING_SYSTEMS = [
  'aix',
  'android',
  'darwin',
  'freebsd',
  'linux',
  'netbsd',
  'openbsd',
  'openharmony',
  'sunos',
  'win32',
];
const CPUS = ['arm64', 'arm', 'ia32', 'loong64', 'mips64el', 'ppc64', 'riscv64', 's390x', 'x64'];

function platformOf(name) {
  const tokens = name.split('/').pop().split('-');
  const os = tokens.find((token) => OPERATING_SYSTEMS.includes(token));
  const cpu = tokens.find((token) => CPUS.includes(token));
  if (!os || !cpu) return undefined;
  const platform = { os: [os], cpu: [cpu] };
  if (tokens.some((token) => token.startsWith('musl'))) platform.libc = ['musl'];
  else if (os === 'linux' && tokens.some((token) => token.startsWith('gnu'))) platform.libc = ['glibc'];
  return platform;
}

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const added = [];
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location === '' ? '' : `${location}/`;
    if (lock.packages[`${base}node_modules/${name}`] || lock.packages[`node_modules/${name}`]) continue;
    const platform = platformOf(name);
    if (!platform || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(range)) continue;
    lock.packages[`node_modules/${name}`] = { version: range, dev: entry.dev, optional: true, ...platform };
    if (!entry.dev) delete lock.packages[`node_modules/${name}`].dev;
    added.push(`${name}@${range}`);
  }
}
if (process.argv.includes('--check')) {
  if (added.length) {
    console.error(
      `package-lock.json lacks ${added.length} platform entries (npm ci would refuse it): run node scripts/complete-lockfile.mjs`,
    );
    process.exit(1);
  }
  process.exit(0);
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added ${added.length} lockfile entries: ${added.join(', ')}` : 'lockfile already complete');
