/**
 * Rotating a key whose lifetime is past the 10-year ceiling (session 26, helper review26).
 *
 * fix26 bounded every lifetime a caller gives (3650d), but a rotated key inherits its predecessor's
 * lifetime (`expiresAt - createdAt`), and keys stored before the ceiling may have any: `--expires
 * 100000w` was accepted (a 1917-year key), and `1000000000w` stored an expiry past what a Date
 * holds. Rotating such a key issued its replacement with the same lifetime: past the ceiling, or an
 * Invalid Date (a RangeError wherever it is printed). The inherited lifetime is now held to the ceiling.
 */
import { type KeyStore, MAX_KEY_LIFETIME_SECONDS, memoryKeyStore } from '@hmac-kit/keys';
import { describe, expect, it } from 'vitest';
import { memoryKeyServices } from './support/memory-keys.js';

describe('rotateKey: an inherited lifetime past the ceiling', () => {
  const open = memoryKeyServices();

  /** A store whose rows of `legacy` keys read back with the lifetime a pre-ceiling version stored. */
  async function service(lifetimeMs: number) {
    const base = memoryKeyStore();
    // key id -> the expiry the store holds for it at creation (the row reads back legacy until it changes).
    const legacy = new Map<string, number | null>();
    const store: KeyStore = {
      ...base,
      async getKey(keyId) {
        const row = await base.getKey(keyId);
        if (row && legacy.get(keyId) === row.expiresAt) return { ...row, expiresAt: row.createdAt + lifetimeMs };
        return row;
      },
    };
    const keys = await open(store);
    const issued = await keys.createKey({ principal: 'alice', expiresInSeconds: 86_400 });
    legacy.set(issued.key.keyId, (await base.getKey(issued.key.keyId))?.expiresAt ?? null);
    return { keys, keyId: issued.key.keyId };
  }

  it.each([
    ['100000w (accepted before the ceiling)', 100_000 * 604_800_000],
    ['1000000000w (an expiry past what a Date holds)', 1_000_000_000 * 604_800_000],
  ])('%s: the replacement expires within 10 years, and prints', async (_what, lifetimeMs) => {
    const { keys, keyId } = await service(lifetimeMs);
    const before = Date.now();
    const rotated = await keys.rotateKey(keyId, { overlapSeconds: 60 });
    const expiresAt = rotated.key.expiresAt as Date;
    expect(Number.isNaN(expiresAt.getTime())).toBe(false);
    expect(expiresAt.toISOString()).toMatch(/^\d{4}-/);
    expect(expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + MAX_KEY_LIFETIME_SECONDS * 1000);
    expect(expiresAt.getTime()).toBeGreaterThanOrEqual(before + MAX_KEY_LIFETIME_SECONDS * 1000);
    // The old key keeps working for the overlap only.
    expect((rotated.previous.expiresAt as Date).getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
  });
});
