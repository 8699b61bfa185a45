import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { nonceFingerprint, randomFingerprintKey } from './nonce-fingerprint.js';
import {
  requireClock,
  requireNumber,
  requirePositiveInteger,
  requirePositiveNumber,
  requireString,
} from './validate.js';

/**
 * Default capacity of {@link memoryNonceStore}: with the default acceptance window of 305 s
 * (max age 300 s + skew 5 s) it absorbs a sustained ~3,280 signed requests per second per
 * process. An entry is a 64-bit fingerprint and an expiry time in typed arrays, ~50 bytes
 * at steady state (docs/limits.md), so a full store holds about 50 MB, none of it traced by the GC.
 */
export const MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES = 1_000_000;

/** Options of {@link memoryNonceStore}. */
export interface MemoryNonceStoreOptions {
  /**
   * Most (key id, nonce) pairs held at once. Size it above peak requests per second
   * times the acceptance window. Default 1 000 000.
   */
  maxEntries?: number;
  /** Current time in milliseconds (like `Date.now`); injectable for tests. */
  now?: () => number;
  /**
   * Told when the store starts refusing new pairs for being full (`full: true`, at the first such
   * refusal: `refused` is 1; `reason` `'capacity'` at `maxEntries`, `'memory'` when its arrays could
   * not grow) and when the episode ends (`full: false`, `refused`: how many checks it refused in
   * between): at the first pair recorded while it holds at most 90% of `maxEntries` (any pair, for a
   * `maxEntries` up to 10), or, while growth is refused, 90% of what it held when growth failed
   * (a pair recorded by growing again ends it as a full one would). Called on those two transitions only, never per check,
   * so a server can log an episode once rather than every refused request: a store kept at capacity
   * by sustained load (each expiry lets one request in, the next is refused) stays in one episode
   * rather than starting one per accepted request. Whatever it throws or rejects is ignored (the
   * check's answer does not depend on it).
   */
  onFullChange?: (event: NonceStoreFullChange) => void;
}

/**
 * What {@link MemoryNonceStoreOptions.onFullChange} is told: an episode's start (`full: true`, why in
 * `reason`) or its end (`full: false`, with how many checks it refused).
 */
export type NonceStoreFullChange =
  | { full: true; refused: number; reason: NonceStoreFull['reason'] }
  | { full: false; refused: number };

/**
 * The memory nonce store's refusal of a new pair for being full (fail closed): at `maxEntries`
 * (`reason: 'capacity'`), or because memory for its arrays to grow was refused (`'memory'`). A
 * `StoreUnavailable` (503 `store_unavailable`) whose episode {@link MemoryNonceStoreOptions.onFullChange}
 * reports once: a server tells it from a store outage by this class and logs the episode, not each
 * refusal (a log line per request under the very overload that fills the store).
 *
 * @example
 * ```ts
 * try { store.checkAndStoreNow(keyId, nonce, 305); } catch (error) { if (error instanceof NonceStoreFull) ... }
 * ```
 */
export class NonceStoreFull extends StoreUnavailable {
  readonly reason: 'capacity' | 'memory';
  constructor(message: string, reason: 'capacity' | 'memory') {
    super(message);
    this.reason = reason;
  }
}

// Shared settled answers: a promise that is already resolved can be handed to any number of awaiters.
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true);
const RESOLVED_FALSE: Promise<boolean> = Promise.resolve(false);

function checkArguments(keyId: unknown, nonce: unknown, ttlSeconds: unknown): void {
  requireString('checkAndStore: keyId', keyId);
  requireString('checkAndStore: nonce', nonce);
  requirePositiveNumber('checkAndStore: ttlSeconds', ttlSeconds);
}

/** A {@link NonceStore} that also answers synchronously (`checkAndStoreNow`, always present). */
export interface MemoryNonceStore extends NonceStore {
  checkAndStoreNow(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean;
  /**
   * The unexpired pairs held now: what `maxEntries` bounds (expired ones are dropped first, as a
   * check does). For a gauge read when metrics are scraped; O(1) amortised.
   */
  size(): number;
  /** The `maxEntries` it was created with. */
  readonly maxEntries: number;
}

// Smallest table (slots) and queue (entries): a store that never sees traffic costs ~8 KB.
const MIN_TABLE_SLOTS = 256;
const MIN_QUEUE_ENTRIES = 128;

/**
 * The records of a memory nonce store, without one object per record: every record is a 64-bit
 * fingerprint of its (key id, nonce) pair ({@link nonceFingerprint}) and an expiry time, in typed
 * arrays whose contents the garbage collector never visits. At 1M records the string-based store
 * this replaces kept ~2M small heap objects alive, copied each of them out of the young generation
 * and re-marked all of them in every full GC (docs/performance.md, session 9).
 *
 * - `table`: open addressing with linear probing, at most half full, so that a lookup reads ~1.5
 *   slots. A slot holds the two fingerprint words and the record's expiry; (0, 0) means empty (a
 *   fingerprint that comes out as (0, 0) is stored as (0, 1): a 2^-64 merge, as likely as any
 *   other collision). Deletion shifts the following run back (no tombstones to pile up).
 * - The expiry queue: a ring in insertion order while expiry times never decrease (one time to
 *   live and a clock that moves forward: every request of a server), and a binary min-heap for
 *   the records that would break that order (a shorter time to live, a clock set back). Expired
 *   records leave in expiry order from the ring's head and the heap's top, O(1) and O(log n).
 * - A queued entry removes its table record only if that record still has the entry's expiry:
 *   after `release()` the record is gone or was recorded again with a later expiry, and the
 *   stale entry must not forget it. (Recorded again with the very same expiry, the record was to
 *   expire at that moment anyway.)
 *
 * Invariant (what makes the answers exact): after `dropExpired(at)`, the table holds exactly the
 * records whose expiry is after `at`, so presence answers "replayed" and `count` is the number of
 * unexpired records that `maxEntries` bounds.
 */
class FingerprintRecords {
  count = 0;
  /** Arrays allocated (grown or shrunk) so far: an add() that changed it got the memory it asked for. */
  allocations = 0;
  private tableMask = MIN_TABLE_SLOTS - 1;
  private tableWords = new Int32Array(MIN_TABLE_SLOTS * 2);
  private tableExpiry = new Float64Array(MIN_TABLE_SLOTS);
  private ringMask = MIN_QUEUE_ENTRIES - 1;
  private ringWords = new Int32Array(MIN_QUEUE_ENTRIES * 2);
  private ringExpiry = new Float64Array(MIN_QUEUE_ENTRIES);
  private ringHead = 0;
  private ringLength = 0;
  private heapWords = new Int32Array(MIN_QUEUE_ENTRIES * 2);
  private heapExpiry = new Float64Array(MIN_QUEUE_ENTRIES);
  private heapSize = 0;

  /** The slot holding `(word0, word1)`, or the bitwise complement (negative) of the empty slot where it would go. */
  find(word0: number, word1: number): number {
    const words = this.tableWords;
    const mask = this.tableMask;
    let slot = word1 & mask;
    for (;;) {
      const stored0 = words[slot * 2]!;
      const stored1 = words[slot * 2 + 1]!;
      if (stored0 === word0 && stored1 === word1) return slot;
      if (stored0 === 0 && stored1 === 0) return ~slot;
      slot = (slot + 1) & mask;
    }
  }

  /**
   * Records a pair known to be absent (`find` said so) until `expiresAt`. Every array that must grow
   * is grown (allocated, then swapped in) before anything is written: when an allocation is refused
   * (RangeError) nothing has changed, so no record is lost (a lost record is an accepted replay)
   * and no record is left without its queue entry (one that would never expire).
   */
  add(word0: number, word1: number, expiresAt: number): void {
    const tail = (this.ringHead + this.ringLength - 1) & this.ringMask;
    const toRing = this.ringLength === 0 || expiresAt >= this.ringExpiry[tail]!;
    if (toRing) {
      if (this.ringLength > this.ringMask) this.resizeRing((this.ringMask + 1) * 2);
    } else if (this.heapSize === this.heapExpiry.length) {
      this.resizeHeap(this.heapSize * 2);
    }
    if ((this.count + 1) * 2 > this.tableMask + 1) this.resizeTable((this.tableMask + 1) * 2);
    const slot = ~this.find(word0, word1);
    this.tableWords[slot * 2] = word0;
    this.tableWords[slot * 2 + 1] = word1;
    this.tableExpiry[slot] = expiresAt;
    this.count++;
    if (toRing) this.ringPush(word0, word1, expiresAt);
    else this.heapPush(word0, word1, expiresAt);
  }

  /** Empties `slot`, moving later entries of its probe run back so that every lookup still finds them. */
  remove(slot: number): void {
    const words = this.tableWords;
    const expiry = this.tableExpiry;
    const mask = this.tableMask;
    let hole = slot;
    let next = slot;
    for (;;) {
      next = (next + 1) & mask;
      const word0 = words[next * 2]!;
      const word1 = words[next * 2 + 1]!;
      if (word0 === 0 && word1 === 0) break;
      // The entry at `next` may fill the hole if the hole lies on its probe path (from its home slot to `next`).
      if (((next - (word1 & mask)) & mask) >= ((next - hole) & mask)) {
        words[hole * 2] = word0;
        words[hole * 2 + 1] = word1;
        expiry[hole] = expiry[next]!;
        hole = next;
      }
    }
    words[hole * 2] = 0;
    words[hole * 2 + 1] = 0;
    this.count--;
  }

  /** Forgets every record whose expiry is at or before `at`. */
  dropExpired(at: number): void {
    while (this.ringLength > 0 && this.ringExpiry[this.ringHead]! <= at) {
      const head = this.ringHead;
      this.forget(this.ringWords[head * 2]!, this.ringWords[head * 2 + 1]!, this.ringExpiry[head]!);
      this.ringHead = (head + 1) & this.ringMask;
      this.ringLength--;
    }
    while (this.heapSize > 0 && this.heapExpiry[0]! <= at) {
      this.forget(this.heapWords[0]!, this.heapWords[1]!, this.heapExpiry[0]!);
      this.heapPop();
    }
    // Entries left behind by release() are not records: past twice the records (plus the smallest
    // queue), drop them, so that reservations released over and over (a failing body after
    // commitBeforeBody) cannot grow the queue beyond what maxEntries bounds. Amortised O(1):
    // after a compaction, as many new stale entries as there are records come before the next.
    if (this.ringLength + this.heapSize > 2 * this.count + MIN_QUEUE_ENTRIES) this.compactQueue();
    // Give memory back after a burst (at most every halving: amortised O(1) per record).
    const slots = this.tableMask + 1;
    const ringSize = this.ringMask + 1;
    const heapSize = this.heapExpiry.length;
    try {
      if (slots > MIN_TABLE_SLOTS && this.count * 8 < slots) this.resizeTable(slots / 2);
      if (ringSize > MIN_QUEUE_ENTRIES && this.ringLength * 8 < ringSize) this.resizeRing(ringSize / 2);
      if (heapSize > MIN_QUEUE_ENTRIES && this.heapSize * 8 < heapSize) this.resizeHeap(heapSize / 2);
    } catch {
      // A refused allocation (RangeError) changed nothing (see add): shrinking is only an economy.
    }
  }

  /** Whether a queue entry is still the one of its record (not left behind by `release()`). */
  private isCurrent(word0: number, word1: number, expiresAt: number): boolean {
    const slot = this.find(word0, word1);
    return slot >= 0 && this.tableExpiry[slot] === expiresAt;
  }

  /**
   * Keeps only the queue entries that are still their record's: the ring in place and in order
   * (still sorted), the heap filtered in place and heapified again. No allocation; a record whose
   * entry is kept expires exactly as before, and a dropped entry would have been ignored by `forget`.
   */
  private compactQueue(): void {
    const ringWords = this.ringWords;
    const ringExpiry = this.ringExpiry;
    let kept = 0;
    for (let index = 0; index < this.ringLength; index++) {
      const from = (this.ringHead + index) & this.ringMask;
      const word0 = ringWords[from * 2]!;
      const word1 = ringWords[from * 2 + 1]!;
      const expiresAt = ringExpiry[from]!;
      if (!this.isCurrent(word0, word1, expiresAt)) continue;
      const to = (this.ringHead + kept) & this.ringMask;
      ringWords[to * 2] = word0;
      ringWords[to * 2 + 1] = word1;
      ringExpiry[to] = expiresAt;
      kept++;
    }
    this.ringLength = kept;
    const heapWords = this.heapWords;
    const heapExpiry = this.heapExpiry;
    let size = 0;
    for (let index = 0; index < this.heapSize; index++) {
      const word0 = heapWords[index * 2]!;
      const word1 = heapWords[index * 2 + 1]!;
      const expiresAt = heapExpiry[index]!;
      if (!this.isCurrent(word0, word1, expiresAt)) continue;
      heapWords[size * 2] = word0;
      heapWords[size * 2 + 1] = word1;
      heapExpiry[size] = expiresAt;
      size++;
    }
    this.heapSize = size;
    for (let index = (size >> 1) - 1; index >= 0; index--) this.siftDown(index);
  }

  /** Moves the heap entry at `start` down below every smaller child (one step of heapify). */
  private siftDown(start: number): void {
    const words = this.heapWords;
    const expiry = this.heapExpiry;
    const size = this.heapSize;
    const movingExpiry = expiry[start]!;
    const moving0 = words[start * 2]!;
    const moving1 = words[start * 2 + 1]!;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && expiry[right]! < expiry[left]! ? right : left;
      if (expiry[child]! >= movingExpiry) break;
      expiry[index] = expiry[child]!;
      words[index * 2] = words[child * 2]!;
      words[index * 2 + 1] = words[child * 2 + 1]!;
      index = child;
    }
    expiry[index] = movingExpiry;
    words[index * 2] = moving0;
    words[index * 2 + 1] = moving1;
  }

  private forget(word0: number, word1: number, expiresAt: number): void {
    const slot = this.find(word0, word1);
    if (slot >= 0 && this.tableExpiry[slot] === expiresAt) this.remove(slot);
  }

  private resizeTable(slots: number): void {
    // Both arrays first: if either allocation is refused, the table is as it was.
    const newWords = new Int32Array(slots * 2);
    const newExpiry = new Float64Array(slots);
    this.allocations++;
    const oldWords = this.tableWords;
    const oldExpiry = this.tableExpiry;
    this.tableMask = slots - 1;
    this.tableWords = newWords;
    this.tableExpiry = newExpiry;
    for (let slot = 0; slot < oldExpiry.length; slot++) {
      const word0 = oldWords[slot * 2]!;
      const word1 = oldWords[slot * 2 + 1]!;
      if (word0 === 0 && word1 === 0) continue;
      const free = ~this.find(word0, word1);
      this.tableWords[free * 2] = word0;
      this.tableWords[free * 2 + 1] = word1;
      this.tableExpiry[free] = oldExpiry[slot]!;
    }
  }

  private ringPush(word0: number, word1: number, expiresAt: number): void {
    if (this.ringLength > this.ringMask) this.resizeRing((this.ringMask + 1) * 2);
    const at = (this.ringHead + this.ringLength) & this.ringMask;
    this.ringWords[at * 2] = word0;
    this.ringWords[at * 2 + 1] = word1;
    this.ringExpiry[at] = expiresAt;
    this.ringLength++;
  }

  private resizeRing(size: number): void {
    const words = new Int32Array(size * 2);
    const expiry = new Float64Array(size);
    this.allocations++;
    // The entries from the head, in order, to index 0 on: the run up to the end of the old ring,
    // then the run that wrapped to its start, each one block copy (a resize ran as a loop in
    // baseline code: it runs too seldom to be optimised; issue #15, session 23).
    const head = this.ringHead;
    const length = this.ringLength;
    const first = Math.min(length, this.ringMask + 1 - head);
    words.set(this.ringWords.subarray(head * 2, (head + first) * 2), 0);
    expiry.set(this.ringExpiry.subarray(head, head + first), 0);
    if (length > first) {
      words.set(this.ringWords.subarray(0, (length - first) * 2), first * 2);
      expiry.set(this.ringExpiry.subarray(0, length - first), first);
    }
    this.ringWords = words;
    this.ringExpiry = expiry;
    this.ringMask = size - 1;
    this.ringHead = 0;
  }

  private resizeHeap(size: number): void {
    const words = new Int32Array(size * 2);
    const expiry = new Float64Array(size);
    this.allocations++;
    words.set(this.heapWords.subarray(0, this.heapSize * 2));
    expiry.set(this.heapExpiry.subarray(0, this.heapSize));
    this.heapWords = words;
    this.heapExpiry = expiry;
  }

  private heapPush(word0: number, word1: number, expiresAt: number): void {
    if (this.heapSize === this.heapExpiry.length) this.resizeHeap(this.heapSize * 2);
    const words = this.heapWords;
    const expiry = this.heapExpiry;
    let index = this.heapSize++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (expiry[parent]! <= expiresAt) break;
      expiry[index] = expiry[parent]!;
      words[index * 2] = words[parent * 2]!;
      words[index * 2 + 1] = words[parent * 2 + 1]!;
      index = parent;
    }
    expiry[index] = expiresAt;
    words[index * 2] = word0;
    words[index * 2 + 1] = word1;
  }

  private heapPop(): void {
    const size = --this.heapSize;
    if (size === 0) return;
    // The last entry takes the root's place and sinks to where it belongs.
    const words = this.heapWords;
    this.heapExpiry[0] = this.heapExpiry[size]!;
    words[0] = words[size * 2]!;
    words[1] = words[size * 2 + 1]!;
    this.siftDown(0);
  }
}

/**
 * A {@link NonceStore} in process memory, for a single instance. Its `epoch()` is the moment it was
 * created: after a restart, signatures created before then are refused (they may have been
 * accepted by the previous process, whose memory is gone). Entries expire after
 * `ttlSeconds`; expired entries are dropped first. When the store is full of entries that
 * are all still inside their window it throws `StoreUnavailable` rather than evicting one:
 * forgetting an unexpired nonce would let that request be replayed.
 *
 * It keeps a 64-bit keyed fingerprint of each (key id, nonce) pair rather than the strings, in
 * typed arrays (~50 bytes per entry, nothing for the GC to trace). Two different pairs share a
 * fingerprint with probability 2^-64, so a fresh request is refused as a replay with probability
 * (unexpired entries) / 2^64: at the default capacity, 1M entries, 5.4e-14 per request, one
 * false refusal in ~180 years at 3,280 requests per second (docs/limits.md). The error is only
 * ever that one (a spurious `nonce_replayed`, which a client resolves by signing again): a
 * replay is never accepted, since equal pairs always have equal fingerprints.
 *
 * @example
 * const nonces = memoryNonceStore({ maxEntries: 50_000 });
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300); // true
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300); // false: replayed
 * nonces.checkAndStoreNow('hk_live_1', 'x9q1...', 300); // true, without a promise
 */
export function memoryNonceStore(options: MemoryNonceStoreOptions = {}): MemoryNonceStore {
  const maxEntries = requirePositiveInteger(
    'memoryNonceStore: options.maxEntries',
    options.maxEntries ?? MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES,
  );
  const now = requireClock('memoryNonceStore: options.now', options.now ?? Date.now);
  // Per store, so that no two stores (nor two runs) share collisions.
  const fingerprintKey = randomFingerprintKey();
  const fingerprint = new Int32Array(2);
  const records = new FingerprintRecords();
  const onFullChange = options.onFullChange;
  if (onFullChange !== undefined && typeof onFullChange !== 'function') {
    throw new TypeError('memoryNonceStore: options.onFullChange must be a function');
  }
  /** Checks refused for being full since the episode began (0: not in one). */
  let refusedWhileFull = 0;
  // The episode ends at a pair recorded with at most this many held before it: hysteresis, so that a
  // store pinned at capacity (an expiry, a pair recorded, the next refused, ...) is one episode, not
  // a pair of hook calls (log lines) per accepted request. 0 for maxEntries 1 (any record ends it).
  const roomAgainAt = maxEntries - Math.ceil(maxEntries / 10);
  /** Where the current episode ends: roomAgainAt, or lower for growth refused with fewer held. */
  let episodeEndsAt = roomAgainAt;
  /** Counts a refusal for being full (`held` pairs held): the first one of an episode is told. */
  const refuseFull = (held: number, reason: 'capacity' | 'memory'): void => {
    // A refused growth happens at a doubling point, below capacity: its episode ends, as a full one
    // does, once at most 90% of what was held then is held (one expiry letting a pair in without
    // growing, the next refused, is the same episode, not a pair of events per expiry).
    const endsAt = reason === 'capacity' ? roomAgainAt : held - Math.ceil(held / 10);
    if (++refusedWhileFull === 1) {
      episodeEndsAt = endsAt;
      tell({ full: true, refused: 1, reason });
    } else if (endsAt < episodeEndsAt) {
      episodeEndsAt = endsAt;
    }
  };
  const ignore = () => {};
  const tell = (event: NonceStoreFullChange) => {
    try {
      // An async hook's rejection is ignored too, not left to become an unhandled rejection.
      const result: unknown = onFullChange?.(event);
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, ignore);
      }
    } catch {
      // A reporting hook must not change the answer (nor turn a refusal into another error).
    }
  };
  // The store is empty when it is created, so it holds every nonce accepted since then: in whole
  // seconds, rounded down, so that a request signed in the same second as the start is accepted.
  const epochSeconds = Math.floor(now() / 1000);

  function checkAndStore(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean {
    checkArguments(keyId, nonce, ttlSeconds);
    if (checkedEpoch !== undefined) {
      requireNumber('checkAndStore: checkedEpoch', checkedEpoch);
      // Checked against an epoch older than this store's (another incarnation's): the request may
      // predate what this store remembers. Fail closed rather than record it as new.
      if (checkedEpoch < epochSeconds) {
        throw new StoreUnavailable('the nonce store was restarted since this request was checked; retry');
      }
    }
    const at = now();
    records.dropExpired(at);
    nonceFingerprint(fingerprintKey, keyId, nonce, fingerprint);
    const word0 = fingerprint[0]!;
    // (0, 0) marks an empty slot: see FingerprintRecords.
    const word1 = word0 === 0 && fingerprint[1] === 0 ? 1 : fingerprint[1]!;
    if (records.find(word0, word1) >= 0) return false;
    const held = records.count;
    if (held >= maxEntries) {
      refuseFull(held, 'capacity');
      throw new NonceStoreFull(`memory nonce store is full (${maxEntries} unexpired entries)`, 'capacity');
    }
    const allocations = records.allocations;
    try {
      records.add(word0, word1, at + ttlSeconds * 1000);
    } catch (error) {
      // Memory for a larger table or queue was refused: add() changed nothing. Fail closed, as full.
      if (error instanceof RangeError) {
        refuseFull(held, 'memory');
        throw new NonceStoreFull('memory nonce store could not grow (out of memory)', 'memory');
      }
      throw error;
    }
    // Memory for growth was given again: only the capacity bounds the store now, so the episode ends
    // where a full one does (at once below 90% of maxEntries).
    if (refusedWhileFull > 0 && records.allocations !== allocations) episodeEndsAt = roomAgainAt;
    if (refusedWhileFull > 0 && held <= episodeEndsAt) {
      const refused = refusedWhileFull;
      refusedWhileFull = 0;
      tell({ full: false, refused });
    }
    return true;
  }

  return {
    epoch: () => epochSeconds,
    maxEntries,
    size() {
      records.dropExpired(now());
      return records.count;
    },
    release(keyId, nonce) {
      try {
        requireString('release: keyId', keyId);
        requireString('release: nonce', nonce);
      } catch (error) {
        return Promise.reject(error);
      }
      nonceFingerprint(fingerprintKey, keyId, nonce, fingerprint);
      const word0 = fingerprint[0]!;
      const word1 = word0 === 0 && fingerprint[1] === 0 ? 1 : fingerprint[1]!;
      // Its queued expiry stays behind, stale: FingerprintRecords.forget ignores it.
      const slot = records.find(word0, word1);
      if (slot >= 0) records.remove(slot);
      return Promise.resolve();
    },
    // Not an async function: the answer is known synchronously, and an async frame per request
    // is garbage the caller's scavenges pay for. Errors still arrive as a rejected promise.
    checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch) {
      try {
        return checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch) ? RESOLVED_TRUE : RESOLVED_FALSE;
      } catch (error) {
        return Promise.reject(error);
      }
    },
    // The same function, without the promise: the pipeline calls it when present (NonceStore's
    // optional capability), so the two answers cannot differ.
    checkAndStoreNow: checkAndStore,
  };
}
