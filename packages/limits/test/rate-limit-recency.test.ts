/**
 * memoryRateLimiter keeps a hit on the most recent key in place instead of deleting and re-adding
 * it (rate-limit.ts, `newest`). Invariant: the same decisions as the delete-then-set reference
 * below (the limiter before that change) for any sequence of keys, limits and clock steps,
 * including evictions beyond maxKeys and expiries. Since session 21 the limiter also keeps the GCRA
 * parameters of the last (limit, window) and skips the sweep when the map holds only the entry just
 * stored: the second case below switches rules (fractional windows too) and runs one key alone.
 */
import { memoryRateLimiter } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';

/** The limiter's algorithm before the in-place hit, as it was: every hit deletes, then sets. */
function referenceLimiter(maxKeys: number, now: () => number) {
  const tats = new Map<string, number>();
  return (key: string, limit: number, windowSeconds: number) => {
    const nowUs = Math.round(now() * 1000);
    const windowUs = Math.max(1, Math.round(windowSeconds * 1_000_000));
    const intervalUs = Math.ceil(windowUs / limit);
    const burstUs = intervalUs * limit;
    const stored = tats.get(key);
    const tat = stored !== undefined && stored > nowUs ? stored : nowUs;
    const newTat = tat + intervalUs;
    const allowed = !(newTat - nowUs > burstUs);
    const outcome = allowed
      ? { newTatUs: newTat, remaining: Math.floor((burstUs - (newTat - nowUs)) / intervalUs), resetUs: newTat - nowUs }
      : { newTatUs: tat, remaining: 0, resetUs: tat - nowUs };
    tats.delete(key);
    if (outcome.newTatUs > nowUs) tats.set(key, outcome.newTatUs);
    for (const [oldestKey, oldestTat] of tats) {
      if (oldestTat > nowUs && tats.size <= maxKeys) break;
      tats.delete(oldestKey);
    }
    return { allowed, remaining: outcome.remaining, resetSeconds: Math.ceil(outcome.resetUs / 1_000_000) };
  };
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('memoryRateLimiter: a hit on the newest key in place', () => {
  it('decides as the delete-then-set reference over random sequences', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      let clock = 1_000_000;
      const now = () => clock;
      const maxKeys = 1 + Math.floor(next() * 4);
      const limiter = memoryRateLimiter({ maxKeys, now });
      const reference = referenceLimiter(maxKeys, now);
      for (let step = 0; step < 400; step++) {
        // Runs of one key (the in-place way), switches between a few keys, and clock steps that
        // let entries expire (the sweep) or not.
        const key = `key:${Math.floor(next() * next() * 6)}`;
        const limit = 1 + Math.floor(next() * 3);
        const windowSeconds = next() < 0.5 ? 1 : 2;
        clock += next() < 0.7 ? Math.floor(next() * 50) : Math.floor(next() * 3000);
        const decision = limiter.hitNow(key, limit, windowSeconds);
        const expected = reference(key, limit, windowSeconds);
        expect({ seed, step, ...decision }).toMatchObject({ seed, step, ...expected });
      }
    }
  });

  it('decides as the reference when rules switch and one key runs alone (the kept parameters, the skipped sweep)', () => {
    const windows = [1, 2, 0.5, 0.000_001, 60, 1.5];
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      let clock = 5_000_000;
      const now = () => clock;
      const maxKeys = 1 + Math.floor(next() * 2);
      const limiter = memoryRateLimiter({ maxKeys, now });
      const reference = referenceLimiter(maxKeys, now);
      for (let step = 0; step < 300; step++) {
        // Mostly one key (the map then holds one entry), now and then another, then back.
        const key = next() < 0.85 ? 'key:a' : 'key:b';
        const limit = next() < 0.7 ? 2 : 1 + Math.floor(next() * 5);
        const windowSeconds = next() < 0.7 ? 1 : (windows[Math.floor(next() * windows.length)] as number);
        clock += next() < 0.8 ? Math.floor(next() * 400) : Math.floor(next() * 5000);
        const decision = limiter.hitNow(key, limit, windowSeconds);
        const expected = reference(key, limit, windowSeconds);
        expect({ seed, step, ...decision }).toMatchObject({ seed, step, ...expected });
      }
    }
  });
});
