/**
 * The audit writer: admin events are written one by one, as they happen; authentication failures,
 * which come in floods during attacks, are written together (group commit, one INSERT per batch)
 * and, beyond a bounded backlog, counted instead of queued, so an attack cannot turn into
 * unbounded memory or writes. The count is written as one `ERR_AUDIT_BACKLOG_FULL` entry.
 */
import type { AuditEvent, AuditStore } from './ports/audit.js';

/** Options of {@link createAuditWriter}. */
export interface AuditWriterOptions {
  /** The business clock (the time of the backlog-full entry). */
  clock: () => number;
  /** Events per INSERT. Default 500. */
  batchSize?: number;
  /** Events queued at most; more are counted, not kept. Default 10 000. */
  backlog?: number;
}

/** What {@link createAuditWriter} returns. */
export interface AuditWriter {
  /** Writes one event now; rejects when the store does. */
  write(event: AuditEvent): Promise<void>;
  /** Queues one event for the next group commit; resolves once written (at once when the backlog is full). */
  writeBatched(event: AuditEvent): Promise<void>;
  /** Resolves once the group commit in progress, if any, has ended. */
  drained(): Promise<void>;
}

/**
 * Creates the audit writer over the store's audit port.
 *
 * @example
 * ```ts
 * const audit = createAuditWriter(store, { clock: Date.now });
 * await audit.writeBatched({ type: 'auth.failed', at: new Date(), keyId, code: 'ERR_BAD_SIGNATURE' });
 * ```
 */
export function createAuditWriter(store: Pick<AuditStore, 'appendAudit'>, options: AuditWriterOptions): AuditWriter {
  const { clock } = options;
  const batchSize = options.batchSize ?? 500;
  const backlog = options.backlog ?? 10_000;
  const queue: { event: AuditEvent; done: (error?: unknown) => void }[] = [];
  let flushing: Promise<void> | undefined;
  let dropped = 0;
  const flush = () => {
    flushing ??= (async () => {
      await Promise.resolve();
      while (queue.length > 0) {
        const batch = queue.splice(0, batchSize);
        const events = batch.map((item) => item.event);
        if (dropped > 0) {
          events.push({
            type: 'auth.failed',
            at: new Date(clock()),
            code: 'ERR_AUDIT_BACKLOG_FULL',
            detail: { dropped },
          });
          dropped = 0;
        }
        try {
          await store.appendAudit(events);
          for (const item of batch) item.done();
        } catch (error) {
          for (const item of batch) item.done(error);
        }
      }
      flushing = undefined;
    })();
  };
  return {
    write: (event) => store.appendAudit([event]),
    writeBatched(event) {
      if (queue.length >= backlog) {
        dropped++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ event, done: (error) => (error === undefined ? resolve() : reject(error)) });
        flush();
      });
    },
    drained: () => flushing ?? Promise.resolve(),
  };
}
