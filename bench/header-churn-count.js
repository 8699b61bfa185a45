// Instructions per request head filed into `request.headers` (review23, issue #15): node's own getter or a built
// incoming.js's FieldsIncomingMessage, for a head of Host + 31 names never sent before (a client churning names),
// that head alternating with a proxy's 8-field head, or the proxy's head alone. Run it under callgrind twice and
// take the difference, which cancels start-up:
//
//   for n in 2000 6000; do valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//     node --single-threaded bench/header-churn-count.js packages/server/dist/incoming.js attack $n 2>&1 | grep Collected; done
//   # (Ir(6000) - Ir(2000)) / 4000 per head; `node` instead of the path for node's getter;
//   # modes: attack | legit-under-attack | legit
import { IncomingMessage } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [which, mode, itersArg] = process.argv.slice(2);
const iters = Number(itersArg);
const Message =
  which === 'node' ? IncomingMessage : (await import(pathToFileURL(resolve(which)).href)).FieldsIncomingMessage;
const legit = [
  'Host',
  'auth.example',
  'X-Original-URI',
  '/api/x',
  'X-Original-Method',
  'GET',
  'Signature',
  'sig1=:abc:',
  'Signature-Input',
  'sig1=("@method")',
  'X-Forwarded-For',
  '10.0.0.1',
  'User-Agent',
  'nginx',
  'Connection',
  'close',
];
function one(raw) {
  const message = new Message(null);
  message._addHeaderLines(raw, raw.length);
  return message.headers;
}
const attack = (i) => {
  const raw = ['Host', 'a'];
  for (let k = 0; k < 31; k++) raw.push(`x-c${i}-${k}`, 'v');
  return raw;
};
let sink = 0;
// Warm-up: 3,000 heads (the attack ones fill the kept rules).
for (let i = 0; i < 3000; i++) {
  sink += Object.keys(one(mode === 'legit' ? legit : attack(i + 1e6))).length;
  if (mode === 'legit-under-attack') one(legit);
}
for (let i = 0; i < iters; i++) {
  if (mode === 'attack') sink += Object.keys(one(attack(i))).length;
  else if (mode === 'legit') sink += Object.keys(one(legit)).length;
  else {
    one(attack(i));
    sink += Object.keys(one(legit)).length;
  }
}
if (sink < 0) console.log(sink);
