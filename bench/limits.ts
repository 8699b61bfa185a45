/**
 * Throughput and latency of replay checks and rate-limit hits, memory vs Redis.
 *
 *   npm run build && node --import tsx bench/limits.ts
 *
 * Redis: HMAC_KIT_BENCH_REDIS_URL, else HMAC_KIT_TEST_REDIS_URL, else redis://127.0.0.1:6379.
 * Keys live under a random prefix and are deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  memoryNonceStore,
  memoryRateLimiter,
  recommendedRedisOptions,
  redisNonceStore,
  redisRateLimiter,
} from '@hmac-kit/limits';
import { Redis } from 'ioredis';

const redisUrl =
  process.env.HMAC_KIT_BENCH_REDIS_URL ?? process.env.HMAC_KIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const durationMs = Number(process.env.HMAC_KIT_BENCH_MS ?? 2000);

interface Result {
  name: string;
  opsPerSecond: number;
  p50Us: number;
  p99Us: number;
}

/** Runs `operation` for `durationMs` with `inFlight` concurrent callers; latencies per operation. */
async function measure(
  name: string,
  inFlight: number,
  operation: (index: number) => Promise<unknown>,
): Promise<Result> {
  for (let index = 0; index < 500; index++) await operation(-index - 1);
  const latencies: number[] = [];
  let counter = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const began = performance.now();
        await operation(counter++);
        latencies.push(performance.now() - began);
      }
    }),
  );
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 1000;
  return { name, opsPerSecond: (latencies.length / elapsed) * 1000, p50Us: at(0.5), p99Us: at(0.99) };
}

function print(results: Result[]): void {
  console.log(`${'benchmark'.padEnd(44)} ${'ops/s'.padStart(12)} ${'p50 µs'.padStart(10)} ${'p99 µs'.padStart(10)}`);
  for (const r of results) {
    console.log(
      `${r.name.padEnd(44)} ${Math.round(r.opsPerSecond).toLocaleString('en').padStart(12)} ${r.p50Us.toFixed(1).padStart(10)} ${r.p99Us.toFixed(1).padStart(10)}`,
    );
  }
}

async function main(): Promise<void> {
  const run = randomUUID();
  const results: Result[] = [];

  const memoryNonces = memoryNonceStore({ maxEntries: 5_000_000 });
  const memoryLimiter = memoryRateLimiter();
  results.push(
    await measure('nonce checkAndStore, memory', 1, (i) => memoryNonces.checkAndStore('hk_bench', `${run}-${i}`, 300)),
  );
  results.push(
    await measure('rate-limit hit, memory (1000 keys)', 1, (i) => memoryLimiter.hit(`key:${i % 1000}`, 1e9, 60)),
  );

  const client = new Redis(redisUrl, { ...recommendedRedisOptions, enableAutoPipelining: true, lazyConnect: true });
  client.on('error', () => {});
  const prefix = `hmac-kit-bench:${run}:`;
  try {
    await client.connect();
  } catch (error) {
    print(results);
    console.log(
      `\nRedis at ${redisUrl} unreachable (${error instanceof Error ? error.message : error}); Redis rows skipped.`,
    );
    client.disconnect();
    return;
  }
  const redisNonces = redisNonceStore({ client, prefix });
  const redisLimiter = redisRateLimiter({ client, prefix });
  results.push(
    await measure('nonce checkAndStore, redis, 1 in flight', 1, (i) =>
      redisNonces.checkAndStore('hk_bench', `n-${i}`, 300),
    ),
  );
  results.push(
    await measure('nonce checkAndStore, redis, 64 in flight', 64, (i) =>
      redisNonces.checkAndStore('hk_bench', `c-${i}`, 300),
    ),
  );
  results.push(
    await measure('rate-limit hit, redis, 1 in flight', 1, (i) => redisLimiter.hit(`key:${i % 1000}`, 1e9, 60)),
  );
  results.push(
    await measure('rate-limit hit, redis, 64 in flight', 64, (i) => redisLimiter.hit(`key:${i % 1000}`, 1e9, 60)),
  );

  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
  client.disconnect();

  print(results);
  const ops = (name: string) => results.find((r) => r.name === name)?.opsPerSecond ?? Number.NaN;
  console.log('\nmemory / redis throughput ratios:');
  for (const [label, memory, redis] of [
    ['nonce, redis 1 in flight', 'nonce checkAndStore, memory', 'nonce checkAndStore, redis, 1 in flight'],
    ['nonce, redis 64 in flight', 'nonce checkAndStore, memory', 'nonce checkAndStore, redis, 64 in flight'],
    ['rate limit, redis 1 in flight', 'rate-limit hit, memory (1000 keys)', 'rate-limit hit, redis, 1 in flight'],
    ['rate limit, redis 64 in flight', 'rate-limit hit, memory (1000 keys)', 'rate-limit hit, redis, 64 in flight'],
  ] as const) {
    console.log(`  ${label.padEnd(32)} ${(ops(memory) / ops(redis)).toFixed(1)}x`);
  }
}

await main();
