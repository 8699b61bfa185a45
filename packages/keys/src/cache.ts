/**
 * A small LRU with per-entry age limit. A `Map` keeps insertion order, so re-inserting
 * on hit moves an entry to the young end and the oldest is `keys().next()`.
 *
 * `onEvict` is told of every value that leaves the cache (too old, pushed out by a newer entry,
 * replaced, deleted or cleared), so a value holding key material can be wiped then rather than
 * when the garbage collector gets to it. A hit calls nothing.
 */
export class LruCache<V> {
  readonly #entries = new Map<string, { value: V; storedAt: number }>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #onEvict: ((value: V) => void) | undefined;

  constructor(maxEntries: number, ttlMs: number, now: () => number, onEvict?: (value: V) => void) {
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (this.#now() - entry.storedAt >= this.#ttlMs) {
      this.#entries.delete(key);
      this.#onEvict?.(entry.value);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    if (this.#maxEntries <= 0) return;
    const replaced = this.#entries.get(key);
    this.#entries.delete(key);
    this.#entries.set(key, { value, storedAt: this.#now() });
    if (replaced !== undefined && replaced.value !== value) this.#onEvict?.(replaced.value);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      const evicted = this.#entries.get(oldest);
      this.#entries.delete(oldest);
      if (evicted !== undefined) this.#onEvict?.(evicted.value);
    }
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#onEvict?.(entry.value);
  }

  clear(): void {
    if (this.#onEvict !== undefined) for (const entry of this.#entries.values()) this.#onEvict(entry.value);
    this.#entries.clear();
  }
}
