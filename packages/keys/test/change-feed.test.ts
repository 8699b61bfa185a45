// Following the change feed on its own, over the memory store's feed: the key service's cache
// coherence rests on it (service-cache.test.ts shows the two together).
import { describe, expect, it } from 'vitest';
import { followChanges } from '../src/change-feed.js';
import { memoryKeyStore } from '../src/memory-store.js';
import type { KeyChange } from '../src/ports/change-feed.js';

describe('followChanges', () => {
  it('starts at the end of the feed and passes on each later change once, oldest first, in batches', async () => {
    const store = memoryKeyStore();
    await store.appendChange(['hk_before'], 0);
    const seen: string[] = [];
    let tick = 0;
    const feed = await followChanges(store, {
      onChange: (keyId) => seen.push(keyId),
      clock: () => 0,
      monotonic: () => tick,
      batchSize: 2,
    });
    await store.appendChange(['hk_a', 'hk_b', 'hk_c'], 1);
    tick = 10;
    await feed.poll();
    expect(seen).toEqual(['hk_a', 'hk_b', 'hk_c']);
    expect(feed.lastSync).toBe(10);
    await feed.poll();
    expect(seen).toHaveLength(3);
  });

  it('shares one read between concurrent polls, and lets lastSync age while the store is unreachable', async () => {
    const store = memoryKeyStore();
    let reads = 0;
    let down = false;
    let tick = 0;
    const feed = await followChanges(
      {
        latestChange: () => store.latestChange(),
        pruneChanges: (olderThan) => store.pruneChanges(olderThan),
        changesSince: async (seq: number, limit: number): Promise<KeyChange[]> => {
          reads++;
          if (down) throw new Error('unreachable');
          return store.changesSince(seq, limit);
        },
      },
      { onChange: () => undefined, clock: () => 0, monotonic: () => tick },
    );
    const first = feed.poll();
    expect(feed.polling).toBe(true);
    expect(feed.poll()).toBe(first);
    await first;
    expect(reads).toBe(1);
    expect(feed.polling).toBe(false);
    down = true;
    tick = 5_000;
    await expect(feed.poll()).resolves.toBeUndefined();
    expect(feed.lastPollStarted).toBe(5_000);
    expect(feed.lastSync).toBe(0);
  });
});
