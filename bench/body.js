// Benchmark 2: body digests. Throughput of 1 MiB and 64 MiB bodies through the streaming
// verifier against raw node:crypto SHA-256, and each run's peak RSS (every measurement is
// its own child process, so RSS is not shared between sizes or variants).
//
//   npx tsc -b && node bench/body.js [--quick]
//
// Bodies arrive as 64 KiB chunks (what Node's HTTP parser hands over at most). The signature
// check itself runs once per body and is included in the verifier's time.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatInteger, formatRatio, median, quick, runNode, table, verdict } from './support.js';

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

const VARIANTS = {
  'raw SHA-256 (node:crypto)': 'raw',
  'raw SHA-256 over the same async source (node:crypto)': 'raw-async',
  'verifyingStream, node:crypto (gateway path)': 'stream-node',
  'verifyMessage, async iterable, node:crypto (middleware path)': 'message-node',
  'verifyingStream, WebCrypto provider (pure-TS SHA-256)': 'stream-web',
  'verifyingIterable, node:crypto (Node streaming path)': 'iterable-node',
};

/** Peak resident set of this process. VmHWM is reset at exec; getrusage's maxRSS is not (it keeps the parent's). */
function peakRssMiB() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (match) return Number(match[1]) / 1024;
  } catch {}
  return process.resourceUsage().maxRSS / 1024;
}

async function readStdin() {
  let text = '';
  for await (const part of process.stdin) text += part;
  return JSON.parse(text);
}

/** The per-body operation of every variant, over one signed `sizeMiB` body fed as `input.chunk` repeated. */
async function makeRuns(input, sizeMiB) {
  const { createHash } = await import('node:crypto');
  const { checkSignature, verifyingIterable, verifyingStream, verifyMessage, webCryptoProvider } = await import(
    '@hmac-kit/core'
  );
  const { nodeCryptoProvider } = await import('@hmac-kit/node-crypto');
  const chunk = new Uint8Array(Buffer.from(input.chunk, 'base64'));
  const chunksPerBody = (sizeMiB * MiB) / CHUNK;
  const key = { keyId: input.keyId, secret: new Uint8Array(Buffer.from(input.secret, 'base64')), algorithm: 'sha256' };
  const message = { method: 'PUT', url: input.url, headers: input.headers };
  const options = { keys: () => key, crypto: nodeCryptoProvider };
  const webOptions = { keys: () => key, crypto: webCryptoProvider };

  const source = () => {
    let sent = 0;
    return new ReadableStream({
      pull(controller) {
        if (sent === chunksPerBody) controller.close();
        else {
          sent++;
          controller.enqueue(chunk);
        }
      },
    });
  };
  async function* iterable() {
    for (let index = 0; index < chunksPerBody; index++) yield chunk;
  }

  const runs = {
    raw: async () => {
      const hash = createHash('sha256');
      for (let index = 0; index < chunksPerBody; index++) hash.update(chunk);
      hash.digest();
    },
    'raw-async': async () => {
      const hash = createHash('sha256');
      for await (const part of iterable()) hash.update(part);
      hash.digest();
    },
    'stream-node': async () => {
      const check = await checkSignature(message, { ...options, hasBody: true });
      const reader = source().pipeThrough(verifyingStream(check.body)).getReader();
      for (;;) if ((await reader.read()).done) break;
    },
    'stream-web': async () => {
      const check = await checkSignature(message, { ...webOptions, hasBody: true });
      const reader = source().pipeThrough(verifyingStream(check.body)).getReader();
      for (;;) if ((await reader.read()).done) break;
    },
    'iterable-node': async () => {
      const check = await checkSignature(message, { ...options, hasBody: true });
      for await (const _ of verifyingIterable(check.body, iterable())) {
      }
    },
    'message-node': async () => {
      await verifyMessage(message, iterable(), options);
    },
  };
  return runs;
}

async function child(variant, sizeMiB, totalMiB) {
  // The parent signed the body (the signer needs it whole); the child only ever holds one chunk.
  const input = await readStdin();
  const run = (await makeRuns(input, sizeMiB))[variant];
  const rssBefore = process.memoryUsage().rss;
  const bodies = Math.max(1, Math.round(totalMiB / sizeMiB));
  // Warm-up (and proof that the body verifies): long enough for V8 to optimise the per-body code,
  // as in a server that has been up for a while. One run left the 1 MiB rows measuring the interpreter.
  const warmUntil = Date.now() + Number(process.env.HMAC_KIT_BENCH_BODY_WARMUP_MS ?? 1000);
  do await run();
  while (Date.now() < warmUntil);
  const start = process.cpuUsage();
  for (let index = 0; index < bodies; index++) await run();
  const used = process.cpuUsage(start);
  const seconds = (used.user + used.system) / 1e6;
  process.stdout.write(
    JSON.stringify({
      mibPerSecond: (bodies * sizeMiB) / seconds,
      peakRssMiB: peakRssMiB(),
      rssBeforeMiB: rssBefore / MiB,
    }),
  );
}

/**
 * Throughput of every variant in one process, interleaved (the order rotating each round), so all
 * of them share one heap, one set of loaded modules and the same moment's machine load: separate
 * processes differ in heap size and in background compilation still running after the warm-up,
 * which moved the 1 MiB rows by +-10% between runs. Prints { variant: [MiB per CPU-second per round] }.
 */
async function interleavedChild(sizeMiB, rounds, bodiesPerRound) {
  const input = await readStdin();
  const runs = await makeRuns(input, sizeMiB);
  const names = Object.keys(runs);
  for (const name of names) {
    const warmUntil = Date.now() + 1000;
    do await runs[name]();
    while (Date.now() < warmUntil);
  }
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < names.length; index++) {
      const name = names[(index + round) % names.length];
      // The pure-TS hash is ~10x slower: fewer bodies keep the round short.
      const bodies = name === 'stream-web' ? Math.max(1, Math.round(bodiesPerRound / 8)) : bodiesPerRound;
      const start = process.cpuUsage();
      for (let body = 0; body < bodies; body++) await runs[name]();
      const used = process.cpuUsage(start);
      samples[name].push((bodies * sizeMiB) / ((used.user + used.system) / 1e6));
    }
  }
  process.stdout.write(JSON.stringify(samples));
}

/** Signs a PUT of `sizeMiB` MiB made of `chunk` repeated; returns what a child needs to verify it. */
export async function signedInput(chunk, sizeMiB) {
  const { randomBytes } = await import('node:crypto');
  const { signMessage } = await import('@hmac-kit/core');
  const { nodeCryptoProvider } = await import('@hmac-kit/node-crypto');
  const secret = randomBytes(32);
  const key = { keyId: 'hk_bodybench', secret: new Uint8Array(secret), algorithm: 'sha256' };
  const body = new Uint8Array(sizeMiB * MiB);
  for (let offset = 0; offset < body.length; offset += CHUNK) body.set(chunk, offset);
  const url = 'https://api.example.com/v1/upload?part=1';
  const headers = { 'content-type': 'application/octet-stream' };
  const signed = await signMessage({ method: 'PUT', url, headers, body }, key, { crypto: nodeCryptoProvider });
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  return JSON.stringify({
    chunk: Buffer.from(chunk).toString('base64'),
    secret: secret.toString('base64'),
    keyId: key.keyId,
    url,
    headers,
  });
}

export async function main() {
  const sizes = [1, 64];
  const self = fileURLToPath(import.meta.url);
  const { randomBytes } = await import('node:crypto');
  const chunk = new Uint8Array(randomBytes(CHUNK));
  const inputs = new Map();
  for (const size of sizes) inputs.set(size, await signedInput(chunk, size));

  // Throughput: all variants in one process per size, interleaved rounds, medians.
  const rounds = quick ? 3 : 9;
  const bodiesPerRound = (size) => (quick ? Math.max(1, 16 / size) : size === 1 ? 128 : 2);
  const throughput = new Map();
  for (const size of sizes) {
    const samples = JSON.parse(
      await runNode([self, '--interleaved', String(size), String(rounds), String(bodiesPerRound(size))], {
        input: inputs.get(size),
      }),
    );
    for (const [variant, values] of Object.entries(samples)) throughput.set(`${variant}|${size}`, median(values));
  }

  // Peak RSS: each variant and size in a process of its own (VmHWM is per process), 256 MiB hashed.
  const memory = new Map();
  for (const variant of Object.values(VARIANTS)) {
    for (const size of sizes) {
      const total = quick ? 64 : variant === 'stream-web' ? 64 : 256;
      memory.set(
        `${variant}|${size}`,
        JSON.parse(await runNode([self, '--child', variant, String(size), String(total)], { input: inputs.get(size) })),
      );
    }
  }
  const summary = (name, size) => {
    const variant = VARIANTS[name];
    const own = memory.get(`${variant}|${size}`);
    return {
      mibPerSecond: throughput.get(`${variant}|${size}`),
      peakRssMiB: own.peakRssMiB,
      rssBeforeMiB: own.rssBeforeMiB,
    };
  };
  console.log(
    `\n## 2. Body digests: streaming verifier vs raw SHA-256 (64 KiB chunks; throughput: every path in one process ` +
      `per size, median of ${rounds} interleaved rounds of ${bodiesPerRound(1)} x 1 MiB or ${bodiesPerRound(64)} x 64 MiB, ` +
      `MiB per CPU-second; peak RSS: each path and size in a process of its own)\n`,
  );
  const rows = [];
  for (const name of Object.keys(VARIANTS)) {
    for (const size of sizes) {
      const s = summary(name, size);
      const raw = summary('raw SHA-256 (node:crypto)', size);
      rows.push([
        name,
        `${size} MiB`,
        formatInteger(s.mibPerSecond),
        formatRatio(s.mibPerSecond / raw.mibPerSecond),
        s.peakRssMiB.toFixed(1),
        (s.peakRssMiB - s.rssBeforeMiB).toFixed(1),
      ]);
    }
  }
  console.log(table(['path', 'body', 'MiB/s', 'vs raw', 'peak RSS MiB', 'RSS growth MiB'], rows));
  console.log('');
  const passes = [];
  for (const size of sizes) {
    const raw = summary('raw SHA-256 (node:crypto)', size).mibPerSecond;
    // The streaming verifier a Node server uses is verifyingIterable (verifyMessage over an
    // IncomingMessage takes the same route); verifyingStream is the web-streams one (edge runtimes).
    passes.push(
      verdict(
        `verifyingIterable (node:crypto) throughput vs raw SHA-256, ${size} MiB`,
        summary('verifyingIterable, node:crypto (Node streaming path)', size).mibPerSecond / raw,
        0.9,
      ),
    );
    passes.push(
      verdict(
        `verifyMessage over an async iterable (node:crypto) vs raw SHA-256, ${size} MiB`,
        summary('verifyMessage, async iterable, node:crypto (middleware path)', size).mibPerSecond / raw,
        0.9,
      ),
    );
    console.log(
      `info  verifyingStream (web streams, node:crypto) vs raw SHA-256, ${size} MiB: ${formatRatio(
        summary('verifyingStream, node:crypto (gateway path)', size).mibPerSecond / raw,
      )}`,
    );
  }
  for (const name of Object.keys(VARIANTS)) {
    const small = summary(name, 1).peakRssMiB;
    const large = summary(name, 64).peakRssMiB;
    // "Flat": growing the body 64x may not grow peak RSS by more than a few chunks' worth.
    const flat = large - small <= 8;
    passes.push(flat);
    console.log(
      `${flat ? 'PASS' : 'FAIL'}  peak RSS flat, ${name}: ${small.toFixed(1)} MiB at 1 MiB, ${large.toFixed(1)} MiB at 64 MiB ` +
        `(target: +8 MiB at most)`,
    );
  }
  return passes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [flag, variant, size, total] = process.argv.slice(2);
  if (flag === '--child') await child(variant, Number(size), Number(total));
  else if (flag === '--interleaved') await interleavedChild(Number(variant), Number(size), Number(total));
  else await main();
}
