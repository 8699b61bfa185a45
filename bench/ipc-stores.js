// The store protocol of `serve --workers` without the processes: a worker's stores
// (`supervisorLimitStores`) and the supervisor's (`shareLimitStores`) of one or more builds in
// this process, every message through v8.serialize/deserialize as the cluster channel's
// 'advanced' serialization does (Node's ChildProcessSerializer is a v8.Serializer), delivered on a
// later turn. What is measured is the user-space work of the protocol per forward-auth request
// (two throttle lookups, a nonce, a rate-limit hit, in three round trips as the middleware makes
// them): serialization, parsing, the stores, the promises. Not the syscalls nor the wake-ups of
// two processes. CPU time of this process, interleaved rounds, median; `batch` requests per turn.
//
//   node bench/ipc-stores.js <server dist A> <server dist B> [rounds=7] [requests=20000] [batch=4]
//   node bench/ipc-stores.js /tmp/before/packages/server/dist packages/server/dist
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { formatInteger, median, table } from './support.js';

const [a, b, roundsText = '7', requestsText = '20000', batchText = '4'] = process.argv.slice(2);
if (!a || !b)
  throw new TypeError('usage: node bench/ipc-stores.js <server dist A> <server dist B> [rounds] [requests] [batch]');
const rounds = Number(roundsText);
const requests = Number(requestsText);
const batch = Number(batchText);

async function pair(dist) {
  const server = await import(resolve(dist, 'index.js'));
  const shared = server.shareLimitStores(server.memoryLimitStores());
  const channel = Object.assign(new EventEmitter(), {
    send(message, callback) {
      const bytes = serialize(message);
      setImmediate(() => {
        callback(null);
        shared.handle(deserialize(bytes), (reply) => {
          const answer = serialize(reply);
          setImmediate(() => channel.emit('message', deserialize(answer)));
        });
      });
      return true;
    },
  });
  return server.supervisorLimitStores(channel, deserialize(serialize(shared.description)));
}

let sequence = 0;
/** One forward-auth request's store calls, as the middleware makes them: gate, nonce, rate limit. */
async function request(stores) {
  const n = sequence++;
  const address = 'addr:127.0.0.1';
  const pair = 'addr+name:9:127.0.0.1:hk_1UuXBfxaWHyRxgkXeHFwj1';
  const [blocked, probe] = await Promise.all([
    stores.failureThrottle.blockedFor(address),
    stores.failureThrottle.blockedForOrUnrecorded(pair),
  ]);
  if (blocked > 0 || probe > 0) throw new Error('blocked');
  const fresh = await stores.nonceStore.checkAndStore(
    'hk_1UuXBfxaWHyRxgkXeHFwj1',
    `nonce-${n}`,
    305,
    stores.nonceStore.epoch(),
  );
  if (!fresh) throw new Error('replay');
  const decision = await stores.rateLimiter.hit('key:hk_1UuXBfxaWHyRxgkXeHFwj1', 1_000_000_000, 1);
  if (!decision.allowed) throw new Error('limited');
}

async function run(stores, count) {
  const start = process.cpuUsage();
  for (let done = 0; done < count; done += batch) {
    const inFlight = [];
    for (let i = 0; i < batch; i++) inFlight.push(request(stores));
    await Promise.all(inFlight);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

const builds = [
  { label: a, stores: await pair(a) },
  { label: b, stores: await pair(b) },
];
for (const build of builds) await run(build.stores, requests);
const samples = builds.map(() => []);
for (let round = 0; round < rounds; round++) {
  for (let k = 0; k < builds.length; k++) {
    const index = (k + round) % builds.length;
    samples[index].push(await run(builds[index].stores, requests));
  }
}
console.log(
  `${formatInteger(requests)} requests x ${rounds} interleaved rounds, ${batch} requests per turn; CPU µs per request (worker + supervisor side, one process)`,
);
const base = median(samples[0]);
console.log(
  table(
    ['server dist', 'µs/request', 'per round', 'vs first'],
    builds.map((build, index) => [
      build.label,
      median(samples[index]).toFixed(2),
      samples[index].map((value) => value.toFixed(1)).join(' '),
      `${(median(samples[index]) / base).toFixed(3)}x`,
    ]),
  ),
);
