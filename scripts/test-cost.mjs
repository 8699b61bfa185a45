#!/usr/bin/env node
// Prints what each test file cost, from the lines test-support/cpu-usage.ts wrote
// (`HMAC_KIT_TEST_CPU=<file> npx vitest run ...`): slowest first, with the share of its wall time
// spent computing (its worker and its child processes on the CPU) and the totals. A file whose CPU
// is far below its wall time waits (for processes, servers, timers); one near or above it computes.
//
//   node scripts/test-cost.mjs /tmp/cpu.jsonl [--top 30] [--sort cpu]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const input = args.find((arg) => !arg.startsWith('--') && !/^\d+$/.test(arg));
if (!input) {
  process.stderr.write(
    'usage: node scripts/test-cost.mjs <file written by HMAC_KIT_TEST_CPU> [--top N] [--sort cpu]\n',
  );
  process.exit(2);
}
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
const byCpu = args.includes('--sort') && args[args.indexOf('--sort') + 1] === 'cpu';

const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line))
  .map((row) => ({ ...row, cpuMs: row.workerCpuMs + row.childCpuMs }));
rows.sort((a, b) => (byCpu ? b.cpuMs - a.cpuMs : b.wallMs - a.wallMs));

const seconds = (ms) => (ms / 1000).toFixed(1).padStart(7);
console.log(
  `${'wall s'.padStart(7)} ${'cpu s'.padStart(7)} ${'worker'.padStart(7)} ${'child'.padStart(7)}  busy  file`,
);
for (const row of rows.slice(0, top)) {
  const busy = `${Math.round((100 * row.cpuMs) / Math.max(1, row.wallMs))}%`.padStart(4);
  console.log(
    `${seconds(row.wallMs)} ${seconds(row.cpuMs)} ${seconds(row.workerCpuMs)} ${seconds(row.childCpuMs)}  ${busy}  ${row.file}`,
  );
}
const sum = (key) => rows.reduce((total, row) => total + row[key], 0);
console.log(
  `${rows.length} files: wall ${seconds(sum('wallMs')).trim()} s summed over files, CPU ${seconds(sum('cpuMs')).trim()} s ` +
    `(workers ${seconds(sum('workerCpuMs')).trim()} s, child processes ${seconds(sum('childCpuMs')).trim()} s); ` +
    'the vitest main process (transforms, reporting) is not included.',
);
