/**
 * A small LRU with per-entry age limit. A `Map` keeps insertion order, so re-inserting
 * on hit moves an entry to the young end and the oldest is `keys().next()`. A hit on the entry
 * already at the young end (the one last set or moved there) is not moved: re-inserting it would
 * leave the order as it is, at the price of a delete and an insert in the map (~2k instructions per
 * key lookup of `hmac-kit serve`, where the key a client signs with is looked up on every request).
 *
 * `onEvict` is told of every value that leaves the cache (too old, pushed out by a newer entry,
 * replaced, deleted or cleared), so a value holding key material can be wiped then rather than
 * when the garbage collector gets to it. A hit calls nothing.
 */
export class LruCache<V> {
  readonly #entries = new Map<string, { value: V; storedAt: number }>();
  /**
   * The entry last inserted into {@link #entries} (the young end of its order), or `undefined` once
   * it left the map. Invariant: when set, it is the map's last entry. (Each `set` stores a new
   * entry object, so an entry that left the map could never equal a live one anyway: it is cleared
   * so as not to hold a value, a decrypted key, past its eviction.)
   */
  #youngest: { value: V; storedAt: number } | undefined;
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
      if (entry === this.#youngest) this.#youngest = undefined;
      this.#onEvict?.(entry.value);
      return undefined;
    }
    // Already the young end: moving it there changes nothing (see #youngest).
    if (entry === this.#youngest) return entry.value;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#youngest = entry;
    return entry.value;
  }

  set(key: string, value: V): void {
    if (this.#maxEntries <= 0) return;
    const replaced = this.#entries.get(key);
    this.#entries.delete(key);
    const entry = { value, storedAt: this.#now() };
    this.#entries.set(key, entry);
    this.#youngest = entry;
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
    if (entry === this.#youngest) this.#youngest = undefined;
    this.#onEvict?.(entry.value);
  }

  clear(): void {
    if (this.#onEvict !== undefined) for (const entry of this.#entries.values()) this.#onEvict(entry.value);
    this.#entries.clear();
    this.#youngest = undefined;
  }
}
