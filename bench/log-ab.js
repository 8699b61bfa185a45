// A/B of the server's stdout destination (`batchedStdout` of packages/server/dist/logger.js) of two
// builds in ONE process: access lines written to /dev/null in interleaved rounds, CPU time per line
// (the harness yields to the event loop every 16 lines, as a busy server does between requests).
//
//   cp -r packages/server/dist tmp/server-before   # before changing logger.ts
//   npx tsc -b && node bench/log-ab.js tmp/server-before packages/server/dist
import { openSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const line =
  '{"level":"info","time":"2026-12-06T03:30:00.123Z","service":"hmac-kit","reqId":"0f8fad5b-d9cb-469f-a165-70867728950e","method":"GET","path":"/verify","status":200,"ms":0.41,"keyId":"hk_0123456789abcdefghij","scheme":"rfc9421","remote":"127.0.0.1","msg":"request"}\n';
const dists = process.argv.slice(2);
if (dists.length === 0) throw new TypeError('usage: node bench/log-ab.js <server dist> [<server dist> ...]');
const cases = [];
for (const dist of dists) {
  const { batchedStdout } = await import(pathToFileURL(resolve(dist, 'logger.js')).href);
  cases.push({ name: dist, destination: batchedStdout(openSync('/dev/null', 'w')), perLine: [] });
}
const lines = 50_000;
const yieldNow = () => new Promise(setImmediate);
for (let round = 0; round < 12; round++) {
  for (let index = 0; index < cases.length; index++) {
    const one = cases[(index + round) % cases.length];
    const start = process.cpuUsage();
    for (let n = 0; n < lines; n++) {
      one.destination.write(line);
      if (n % 16 === 15) await yieldNow();
    }
    const used = process.cpuUsage(start);
    one.perLine.push(((used.user + used.system) * 1000) / lines);
  }
}
const start = process.cpuUsage();
for (let n = 0; n < lines; n++) if (n % 16 === 15) await yieldNow();
const used = process.cpuUsage(start);
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
for (const one of cases)
  console.log(`${one.name}: ${median(one.perLine).toFixed(0)} ns CPU per line (median of 12 rounds)`);
console.log(`the harness's yields alone: ${(((used.user + used.system) * 1000) / lines).toFixed(0)} ns per line`);
process.exit(0);
