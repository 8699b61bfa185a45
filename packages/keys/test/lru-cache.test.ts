// The key cache's LRU leaves a hit on its youngest entry where it is (issue #15: no delete and
// re-insert in the map for the key every request of a client signs with). Held here to the LRU
// that moved every hit (the reference below): same answers and the same evictions, in the same
// order, for any sequence of lookups, stores, deletions and clears as time passes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../src/cache.js';

/** The LRU before the shortcut: every hit is deleted and re-inserted (moved to the young end). */
class ReferenceLru<V> {
  readonly entries = new Map<string, { value: V; storedAt: number }>();
  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
    readonly now: () => number,
    readonly onEvict: (value: V) => void,
  ) {}
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.storedAt >= this.ttlMs) {
      this.entries.delete(key);
      this.onEvict(entry.value);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }
  set(key: string, value: V): void {
    if (this.maxEntries <= 0) return;
    const replaced = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, { value, storedAt: this.now() });
    if (replaced !== undefined && replaced.value !== value) this.onEvict(replaced.value);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      const evicted = this.entries.get(oldest);
      this.entries.delete(oldest);
      if (evicted !== undefined) this.onEvict(evicted.value);
    }
  }
  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.onEvict(entry.value);
  }
  clear(): void {
    for (const entry of this.entries.values()) this.onEvict(entry.value);
    this.entries.clear();
  }
}

const key = fc.constantFrom('a', 'b', 'c', 'd', 'e');
const operation = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('get' as const), key, advance: fc.nat(30) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), key, value: fc.nat(3), advance: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
);

describe('LruCache: a hit on the youngest entry is not moved', () => {
  it('answers and evicts as the LRU that moved every hit (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(operation, { maxLength: 120 }),
        (maxEntries, ttlMs, operations) => {
          let now = 0;
          const evicted: string[] = [];
          const expectedEvicted: string[] = [];
          // Values are objects, as the key cache's entries: evictions compare by content and order.
          const cache = new LruCache<{ v: string }>(
            maxEntries,
            ttlMs,
            () => now,
            (value) => evicted.push(value.v),
          );
          const reference = new ReferenceLru<{ v: string }>(
            maxEntries,
            ttlMs,
            () => now,
            (value) => expectedEvicted.push(value.v),
          );
          const values = new Map<string, { v: string }>();
          const valueNamed = (name: string, n: number) => {
            const id = `${name}${n}`;
            const known = values.get(id);
            if (known !== undefined) return known;
            const value = { v: id };
            values.set(id, value);
            return value;
          };
          for (const step of operations) {
            if (step.op === 'get') {
              now += step.advance;
              expect(cache.get(step.key)).toBe(reference.get(step.key));
            } else if (step.op === 'set') {
              now += step.advance;
              const value = valueNamed(step.key, step.value);
              cache.set(step.key, value);
              reference.set(step.key, value);
            } else if (step.op === 'delete') {
              cache.delete(step.key);
              reference.delete(step.key);
            } else {
              cache.clear();
              reference.clear();
            }
            expect(evicted).toEqual(expectedEvicted);
            expect(cache.size).toBe(reference.entries.size);
          }
          // The order left: filling the cache with new keys evicts the rest oldest first.
          for (const name of ['v', 'w', 'x', 'y', 'z']) {
            cache.set(name, valueNamed(name, 0));
            reference.set(name, valueNamed(name, 0));
          }
          expect(evicted).toEqual(expectedEvicted);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
