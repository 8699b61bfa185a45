/**
 * The per-process tally of failures the failure throttle's store has not recorded yet.
 *
 * The gate reads the throttle before a request is verified, and a failure is written to the store
 * only after it, asynchronously (IPC to a supervisor, Redis): requests of one subject that pass the
 * gate together all reached the MAC before the first of their failures was recorded (100 of 100
 * forged checks pipelined to `serve --workers 2`). Counting a request at the gate would be a side
 * effect before it is proven; a *failure*, once determined, is proven, and is tallied here at that
 * moment, synchronously (the pipeline's `macFailed` hook), before the store write starts. The
 * pipeline's `beforeMac` hook asks {@link FailureTally.refusal} right before the MAC, after the key
 * lookup, for a known and an unknown key id alike.
 *
 * Invariant: at any moment, one process has fewer than `budget` (the throttle's `freeFailures` + 1)
 * failures of a subject tallied and not yet settled in the store when a request of that subject is
 * let through to the MAC; with a synchronous MAC nothing runs between that check and the tally of
 * its failure, so within one process no more requests of a subject reach the signature check
 * together than one at a time would reach it from an unrecorded start (`freeFailures` free ones and
 * the one that starts the first slowdown). `budget` unrecorded failures always end in a block once
 * the store has them (the store's count is at least theirs), so the tally never refuses a request
 * the store would not refuse a moment later; a subject with nothing tallied (every genuine client
 * without failures) is never refused by it.
 *
 * A failure is forgotten once its store write settled (recorded, or failed: the gate then fails
 * closed on the store anyway). When the store answers that write with a block, the block's end is
 * kept (an answer, not a count) until it runs out: a request of the subject that read the gate
 * before the block was recorded and reaches the MAC after it (a slow key lookup) is refused as a
 * request reading the gate now is. Nothing else is kept: a success does not touch the tally.
 *
 * Bounded: at most `maxSubjects` entries, least recently failing first out. Evicting an entry
 * forgets that subject's unrecorded failures and kept block, which only gives that subject back
 * what it had before this tally (its in-flight requests are verified, the store still blocks it);
 * it never refuses anyone. A subject needs unrecorded failures to have an entry, so filling the
 * table takes that many subjects failing at once; an address bounds its own (address, key id)
 * subjects, its address subject being tallied too. An entry whose failures were never settled (a
 * store call that never answers) is dropped after `staleMs`, so a lost settle cannot block a subject
 * for longer than that.
 */

interface TallyEntry {
  /** Failures tallied whose store write has not settled. */
  unrecorded: number;
  /** When the last failure was tallied (ms, the tally's clock). */
  lastFailureMs: number;
  /** End of a block the store answered for one of this process's failures (ms), or 0. */
  blockedUntilMs: number;
}

/** Default bound of the tally's subjects. */
export const DEFAULT_TALLY_SUBJECTS = 10_000;
/** Unrecorded failures older than this are dropped (a store call that never settled). */
export const DEFAULT_TALLY_STALE_MS = 60_000;

export class FailureTally {
  readonly budget: number;
  readonly #maxSubjects: number;
  readonly #staleMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, TallyEntry>();

  constructor(options: { budget: number; maxSubjects?: number; staleMs?: number; now?: () => number } = { budget: 4 }) {
    this.budget = options.budget;
    this.#maxSubjects = options.maxSubjects ?? DEFAULT_TALLY_SUBJECTS;
    this.#staleMs = options.staleMs ?? DEFAULT_TALLY_STALE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Subjects tracked (for tests of the bound). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Seconds to answer in `Retry-After` when a request of `subject` must not reach the MAC now, else 0.
   * Reads only: a request is never counted here.
   */
  refusal(subject: string): number {
    const entry = this.#entries.get(subject);
    if (entry === undefined) return 0;
    const now = this.#now();
    if (entry.blockedUntilMs > now) return (entry.blockedUntilMs - now) / 1000;
    if (entry.unrecorded >= this.budget && now - entry.lastFailureMs < this.#staleMs) {
      // The store will block the subject once it has them; when, the store's answer tells. One
      // second is the throttle's default first slowdown.
      return 1;
    }
    return 0;
  }

  /** A failure of `subject` was determined (proven); its store write is still to come. */
  add(subject: string): void {
    const now = this.#now();
    let entry = this.#entries.get(subject);
    if (entry !== undefined) {
      this.#entries.delete(subject);
      if (now - entry.lastFailureMs >= this.#staleMs) entry.unrecorded = 0;
    } else {
      entry = { unrecorded: 0, lastFailureMs: now, blockedUntilMs: 0 };
    }
    entry.unrecorded++;
    entry.lastFailureMs = now;
    // Re-inserted: Map order is the order of last failures, oldest first.
    this.#entries.set(subject, entry);
    for (const [oldest, old] of this.#entries) {
      if (this.#entries.size <= this.#maxSubjects && !this.#spent(old, now)) break;
      this.#entries.delete(oldest);
    }
  }

  /**
   * The store write of one tallied failure of `subject` settled: `blockedSeconds` is the block the
   * store answered (undefined: the write failed). Forgets the entry once nothing is left to hold.
   */
  settle(subject: string, blockedSeconds: number | undefined): void {
    const entry = this.#entries.get(subject);
    if (entry === undefined) return;
    const now = this.#now();
    if (entry.unrecorded > 0) entry.unrecorded--;
    // Not `> 0` alone: NaN is no block to keep (the gate treats such answers as blocks itself).
    if (blockedSeconds !== undefined && blockedSeconds > 0) {
      entry.blockedUntilMs = Math.max(entry.blockedUntilMs, now + blockedSeconds * 1000);
    }
    if (this.#spent(entry, now)) this.#entries.delete(subject);
  }

  #spent(entry: TallyEntry, now: number): boolean {
    return entry.blockedUntilMs <= now && (entry.unrecorded === 0 || now - entry.lastFailureMs >= this.#staleMs);
  }
}
