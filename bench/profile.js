// Benchmark 5: CPU profile of the verification hot path. A child process warms the verifier
// up, then records a V8 CPU profile (the same profiler as `node --cpu-prof`, started through
// node:inspector so that start-up and module loading stay out of it) while it verifies the
// typical request in a loop, and prints self and inclusive time per function.
//
//   npx tsc -b && node bench/profile.js [rfc9421|sigv4|x-api|django|webcrypto] [seconds]
//   npx tsc -b && node bench/profile.js sign:rfc9421 [seconds]    # signMessage instead (sign:sigv4, sign:webcrypto)
//
// The .cpuprofile file stays in bench/.profiles/ (open it in Chrome DevTools).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { formatInteger, runNode, table } from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const profiles = `${here}.profiles`;

async function workload(mode, seconds) {
  const signing = mode.startsWith('sign:');
  const kind = signing ? mode.slice('sign:'.length) : mode;
  const { djangoHmac, rfc9421, signMessage, sigv4, verifyMessage, webCryptoProvider, xApi } = await import(
    '@hmac-kit/core'
  );
  const { nodeCryptoProvider } = await import('@hmac-kit/node-crypto');
  const { DISTINCT_MESSAGES, receivedMessage, typical } = await import('./support.js');
  const { randomBytes } = await import('node:crypto');
  const secret = new Uint8Array(randomBytes(32));
  const keyId = 'hk_benchkey0000000001';
  const key = { keyId, secret, algorithm: 'sha256' };
  const scheme = kind === 'sigv4' ? sigv4() : kind === 'x-api' ? xApi() : kind === 'django' ? djangoHmac() : rfc9421();
  // django-hmac has no nonce: its messages are signed a microsecond apart so that each is distinct.
  const signedAt = Date.now() / 1000;
  const crypto = kind === 'webcrypto' ? webCryptoProvider : nodeCryptoProvider;
  const baseHeaders = { host: typical.host, 'content-type': typical.contentType, 'content-length': '1024' };
  // Distinct signed messages, each in its own objects (see DISTINCT_MESSAGES).
  const messages = [];
  for (let index = 0; index < DISTINCT_MESSAGES; index++) {
    const signed = await signMessage(
      { method: typical.method, url: typical.url, headers: baseHeaders, body: typical.body },
      key,
      { scheme, crypto, ...(kind === 'django' ? { now: () => signedAt - index / 1e6 } : {}) },
    );
    messages.push(receivedMessage(typical.method, baseHeaders, signed));
  }
  const options = { keys: (id) => (id === keyId ? key : undefined), schemes: [scheme], crypto };
  const unsigned = { method: typical.method, url: typical.url, headers: baseHeaders, body: typical.body };
  const loop = async (milliseconds) => {
    const deadline = Date.now() + milliseconds;
    let count = 0;
    while (Date.now() < deadline) {
      for (let index = 0; index < 100; index++) {
        if (signing) {
          await signMessage(unsigned, key, { scheme, crypto });
          continue;
        }
        const message = messages[(count + index) % DISTINCT_MESSAGES];
        await verifyMessage(message, typical.body, options);
      }
      count += 100;
    }
    return count;
  };
  await loop(500);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const count = await loop(seconds * 1000);
  const { profile } = await session.post('Profiler.stop');
  const file = `${profiles}/${signing ? 'sign' : 'verify'}-${kind}.cpuprofile`;
  writeFileSync(file, JSON.stringify(profile));
  process.stdout.write(JSON.stringify({ opsPerSecond: count / seconds, file }));
}

function frameName(frame) {
  const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(packages|node_modules)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
}

/** Self and inclusive time per function, from a V8 .cpuprofile; top `limit` by self time. */
function summarize(profile, limit = 22) {
  const sampleCounts = new Map();
  for (const id of profile.samples) sampleCounts.set(id, (sampleCounts.get(id) ?? 0) + 1);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const inclusive = new Map();
  const total = profile.samples.length;
  // Depth-first with the names already on the stack, so recursion is counted once.
  const walk = (id, onStack) => {
    const node = byId.get(id);
    const name = frameName(node.callFrame);
    let sum = sampleCounts.get(id) ?? 0;
    self.set(name, (self.get(name) ?? 0) + sum);
    const nested = onStack.has(name);
    if (!nested) onStack.add(name);
    for (const child of node.children ?? []) sum += walk(child, onStack);
    if (!nested) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + sum);
    }
    return sum;
  };
  walk(profile.nodes[0].id, new Set());
  const share = (samples) => `${((samples / total) * 100).toFixed(1)}%`;
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, samples]) => [name, share(samples), share(inclusive.get(name) ?? 0)]);
}

export async function main(kind = 'rfc9421', seconds = 4) {
  rmSync(profiles, { recursive: true, force: true });
  mkdirSync(profiles, { recursive: true });
  const output = await runNode([fileURLToPath(import.meta.url), '--child', kind, String(seconds)]);
  const { opsPerSecond, file } = JSON.parse(output);
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  console.log(
    `\n## 5. CPU profile: ${kind.startsWith('sign:') ? `signMessage, ${kind.slice(5)}` : `verifyMessage, ${kind}`}, ` +
      `typical request (${formatInteger(opsPerSecond)} ${kind.startsWith('sign:') ? 'signatures' : 'verifications'}/s ` +
      `under the profiler, wall clock)\n`,
  );
  console.log(table(['function', 'self', 'inclusive'], summarize(profile)));
  console.log(`\nprofile: bench/.profiles/${file.slice(file.lastIndexOf('/') + 1)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [flag, kind, seconds] = process.argv.slice(2);
  if (flag === '--child') await workload(kind, Number(seconds));
  else await main(flag, kind === undefined ? undefined : Number(kind));
}
