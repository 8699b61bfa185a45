// The RFC 9421 MAC of a typical signature base (377 bytes) through node:crypto four ways, in time
// (issue #15, session 25): callgrind prices SHA-256 at valgrind's AVX2 code and cannot show what
// this CPU's SHA-NI makes of each path's per-call overhead, so this is timed, rounds interleaved.
//
//   current   what the verifiers run (core's macOfPaddedBlock): two one-shot crypto.hash() calls over
//             the inner block (key ^ ipad, then the text) and the outer block (key ^ opad, then the
//             inner digest), from key pads computed once per key
//   hmacKey   crypto.createHmac('sha256', <KeyObject>).update(text).digest(): one EVP context per call
//   hmacRaw   the same with the raw key bytes
//   midstate  two kept Hash objects holding the state after the ipad and opad blocks, .copy()'d per
//             call (one compression less each, three native calls more)
//
//   node bench/mac-paths.js [names...]   # median and minimum ns per MAC of 6 rounds of 200,000
import * as crypto from 'node:crypto';
import { loadAverage } from './support.js';

const key = crypto.randomBytes(32);
const text = Buffer.from(
  '"@method": POST\n"@authority": api.example.com\n"@path": /v1/orders\n"@query": ?a=1&b=2\n' +
    '"content-type": application/json\n"content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\n' +
    '"@signature-params": ("@method" "@authority" "@path" "@query" "content-type" "content-digest")' +
    ';created=1700000000;keyid="hk_countab000000001";nonce="abcdefabcdefabcdef";alg="hmac-sha256"',
);
const ipad = Buffer.alloc(64, 0x36);
const opad = Buffer.alloc(64, 0x5c);
for (let i = 0; i < key.length; i++) {
  ipad[i] ^= key[i];
  opad[i] ^= key[i];
}
const block = new Uint8Array(64 + text.length);
block.set(text, 64);
const outer = new Uint8Array(96);
const keyObject = crypto.createSecretKey(key);
const innerState = crypto.createHash('sha256').update(ipad);
const outerState = crypto.createHash('sha256').update(opad);
const paths = {
  current() {
    block.set(ipad, 0);
    const inner = crypto.hash('sha256', block, 'binary');
    block.fill(0, 0, 64);
    outer.set(opad, 0);
    for (let i = 0; i < 32; i++) outer[64 + i] = inner.charCodeAt(i);
    const mac = crypto.hash('sha256', outer, 'binary');
    outer.fill(0);
    return mac;
  },
  hmacKey: () => crypto.createHmac('sha256', keyObject).update(text).digest('binary'),
  hmacRaw: () => crypto.createHmac('sha256', key).update(text).digest('binary'),
  midstate: () => outerState.copy().update(innerState.copy().update(text).digest()).digest('binary'),
};
const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(paths);
if (new Set(names.map((name) => paths[name]())).size !== 1) throw new Error('the paths disagree');
console.log(`load average at the start: ${loadAverage()}; signature base ${text.length} bytes`);
const perCall = 200_000;
const times = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < 7; round++) {
  for (const name of round % 2 === 0 ? names : [...names].reverse()) {
    const path = paths[name];
    const started = process.hrtime.bigint();
    for (let i = 0; i < perCall; i++) path();
    times[name].push(Number(process.hrtime.bigint() - started) / perCall);
  }
}
for (const name of names) {
  // The first round warms up.
  const sorted = times[name].slice(1).sort((a, b) => a - b);
  const median = (sorted[2] + sorted[3]) / 2;
  console.log(`${name.padEnd(9)} median ${median.toFixed(0)} ns, minimum ${sorted[0].toFixed(0)} ns per MAC`);
}
console.log(`load average at the end: ${loadAverage()}`);
