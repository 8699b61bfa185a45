// Names the JIT frames of a callgrind output kept by the count scripts (HMAC_KIT_CALLGRIND_KEEP=1):
// callgrind knows V8's generated code only by address (`fn=(12) 0x000000000d0f3ec0`), and node's
// `--perf-basic-prof` writes the address range and name of every code object it creates to
// /tmp/perf-<pid>.map. This rewrites each such address that falls inside a mapped range to
// `JS <name>` (e.g. `JS JS:*handle file:///…/app.js:103:20`; `*` optimised, `^` baseline), so that
// `callgrind_annotate --inclusive=yes --tree=calling` shows the server's own functions with their
// callees. The pid is read from the output's `pid:` line; a range mapped twice keeps its last name.
//
//   HMAC_KIT_CALLGRIND_KEEP=1 NODE_OPTIONS=--perf-basic-prof node bench/serve-count.js . -- --log-level info
//   node bench/callgrind-names.js /tmp/hk-callgrind-XXXX/callgrind.out /tmp/named.out
//   callgrind_annotate --inclusive=yes --tree=calling /tmp/named.out | less
//
// The per-request figure of a function is its inclusive count divided by the counted requests.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, mapArgument] = process.argv.slice(2);
if (!input || !output) {
  throw new TypeError('usage: node bench/callgrind-names.js <callgrind.out> <named output> [perf-<pid>.map]');
}
const text = readFileSync(input, 'utf8');
const pid = /^pid: (\d+)$/m.exec(text)?.[1];
const mapFile = mapArgument ?? `/tmp/perf-${pid}.map`;

/** Start address -> [end, name], from the perf map (later entries at one start win). */
const ranges = new Map();
for (const line of readFileSync(mapFile, 'utf8').split('\n')) {
  const first = line.indexOf(' ');
  const second = line.indexOf(' ', first + 1);
  if (first < 0 || second < 0) continue;
  const start = Number.parseInt(line.slice(0, first), 16);
  const size = Number.parseInt(line.slice(first + 1, second), 16);
  if (Number.isNaN(start) || Number.isNaN(size)) continue;
  ranges.set(start, [start + size, line.slice(second + 1)]);
}
const starts = [...ranges.keys()].sort((a, b) => a - b);

/** The name of the mapped range holding `address`, if any (binary search over the starts). */
function nameOf(address) {
  let low = 0;
  let high = starts.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (starts[middle] <= address) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  if (found < 0) return undefined;
  const [end, name] = ranges.get(starts[found]);
  return address < end ? name : undefined;
}

let named = 0;
const rewritten = text.replace(/^(c?fn=\(\d+\)) (0x[0-9a-f]+)$/gm, (whole, head, address) => {
  const name = nameOf(Number.parseInt(address, 16));
  if (name === undefined) return whole;
  named++;
  return `${head} JS ${name}`;
});
writeFileSync(output, rewritten);
console.error(`${named} JIT frames named from ${mapFile}`);
