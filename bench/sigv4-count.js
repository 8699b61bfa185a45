// Instructions per SigV4 verify in process, from valgrind's callgrind, for two (or more) builds:
// the row "hmac-kit SigV4 (node:crypto) verify" of bench/sign-verify.js under an instruction
// counter. The same conditions as that bench: the typical signed POST (query string, 1 KiB JSON
// body, signed by the core's sigv4() scheme), 64 distinct signed messages reused in turn (see
// DISTINCT_MESSAGES), header values flat as node:http hands them over, no nonce store, a
// synchronous in-memory key lookup, node:crypto.
//
//   verify   verifyMessage(message, body, { keys, schemes: [sigv4()], crypto })
//   aws4     the bench's aws4 verify (re-sign at the claimed date, compare): the peer of issue #15's
//            2.7x target. Under valgrind OpenSSL runs its AVX2 SHA-256, not SHA-NI (cpuid is
//            masked), so the ratio of the two counts is not the wall-clock ratio.
//
//   node bench/sigv4-count.js verify <build A> <build B> [--count=6000] [--warmup=8000]
//
// A build is a directory holding node_modules/@hmac-kit/<package>/dist (a checkout built with
// `npx tsc -b`, or `.`). Instrumentation is on only around the counted requests; V8's compilation
// inside the window is reported apart and left out of the comparison (bench/callgrind.js).
// Profiles: HMAC_KIT_CALLGRIND_KEEP is not read here; to see where the instructions go, run the
// child under valgrind yourself with NODE_OPTIONS=--perf-basic-prof and callgrind_annotate
// --inclusive=yes (see docs/performance.md, "Session 11: SigV4 verify").

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { countChildPerRequest, netOfCompilation } from './callgrind.js';
import { DISTINCT_MESSAGES, loadAverage, receivedMessage, typical } from './support.js';

const MODES = ['verify', 'aws4'];
const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 6000);
const warmup = option('warmup', 8000);
const [mode, ...builds] = args.filter((arg) => !arg.startsWith('--'));

async function hmacKitOperation(build) {
  const load = (name) => import(pathToFileURL(resolve(build, `node_modules/@hmac-kit/${name}/dist/index.js`)).href);
  const [core, nodeCrypto] = await Promise.all(['core', 'node-crypto'].map(load));
  const crypto = nodeCrypto.nodeCryptoProvider;
  const key = { keyId: 'hk_benchkey0000000001', secret: new Uint8Array(randomBytes(32)), algorithm: 'sha256' };
  const keys = (keyId) => (keyId === key.keyId ? key : undefined);
  const scheme = core.sigv4();
  const body = typical.body;
  const headers = { host: typical.host, 'content-type': typical.contentType, 'content-length': '1024' };
  const messages = [];
  for (let index = 0; index < DISTINCT_MESSAGES; index++) {
    const signed = await core.signMessage({ method: typical.method, url: typical.url, headers, body }, key, {
      scheme,
      crypto,
    });
    messages.push(receivedMessage(typical.method, headers, signed));
  }
  const options = { keys, schemes: [scheme], crypto };
  let next = 0;
  return () => core.verifyMessage(messages[next++ % DISTINCT_MESSAGES], body, options);
}

function aws4Operation() {
  const aws4 = createRequire(import.meta.url)('aws4');
  const credentials = { accessKeyId: 'hk_benchkey0000000001', secretAccessKey: randomBytes(32).toString('base64url') };
  const optionsOf = (headers) => ({
    host: typical.host,
    path: `${typical.path}?${typical.query}`,
    method: typical.method,
    service: 'hmac-kit',
    region: 'eu-west-1',
    body: typical.bodyText,
    headers,
  });
  const signed = aws4.sign(optionsOf({ 'Content-Type': typical.contentType }), credentials);
  const claimed = Buffer.from(signed.headers.Authorization);
  const amzDate = signed.headers['X-Amz-Date'];
  return () => {
    const again = aws4.sign(optionsOf({ 'Content-Type': typical.contentType, 'X-Amz-Date': amzDate }), credentials);
    const expected = Buffer.from(again.headers.Authorization);
    if (expected.length !== claimed.length || !timingSafeEqual(expected, claimed)) throw new Error('aws4');
  };
}

/** The child: builds the operation, warms up, then answers the parent's `go`. */
async function child(build) {
  const operation = mode === 'aws4' ? aws4Operation() : await hmacKitOperation(build);
  for (let index = 0; index < warmup; index++) await operation();
  const lines = createInterface({ input: process.stdin });
  console.log('warm');
  for await (const line of lines) {
    if (line === 'go') {
      for (let index = 0; index < count; index++) await operation();
      console.log('done');
    } else if (line === 'exit') break;
  }
  lines.close();
}

if (!MODES.includes(mode) || builds.length === 0) {
  throw new TypeError(
    `usage: node bench/sigv4-count.js ${MODES.join('|')} <build> [<build> ...] [--count=N] [--warmup=N]`,
  );
}
if (args.includes('--child')) {
  await child(builds[0]);
} else {
  console.log(`load average at the start: ${loadAverage()}`);
  const counted = [];
  for (const build of builds) {
    counted.push([
      build,
      await countChildPerRequest(
        [fileURLToPath(import.meta.url), mode, build, `--count=${count}`, `--warmup=${warmup}`, '--child'],
        count,
      ),
    ]);
  }
  console.log(
    `SigV4 ${mode}: in process, ${count} verifies after ${warmup} warm-up ones (${DISTINCT_MESSAGES} distinct messages), callgrind instructions (Ir) per verify, compilation excluded`,
  );
  console.log(netOfCompilation('build', counted));
  console.log(`load average at the end: ${loadAverage()}`);
}
