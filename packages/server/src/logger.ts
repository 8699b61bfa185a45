import { closeSync, constants, fstatSync, write as fsWrite, openSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { pino } from './pino-runtime.js';

/** Header values that must never reach a log line. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.signature',
  'req.headers["signature-input"]',
  'req.headers["x-api-signature"]',
  'req.headers["x-amz-security-token"]',
  'req.headers.cookie',
  'secret',
  'password',
  '*.secret',
  '*.password',
];

/**
 * The longest log line written, newline included: PIPE_BUF on Linux. A write(2) of at most this
 * many bytes to a pipe is never split nor interleaved with another process's write, so the lines of
 * workers sharing one stdout stay whole JSON lines.
 */
export const MAX_LOG_LINE_BYTES = 4096;
/** Below this many UTF-16 code units a line cannot exceed {@link MAX_LOG_LINE_BYTES} (3 UTF-8 bytes per unit at most). */
const SURELY_SHORT = Math.floor(MAX_LOG_LINE_BYTES / 3);
const TRUNCATED_MARK = '…[truncated]';

/** `value` with every string longer than `limit` characters cut to `limit` (and marked). */
function shortenStrings(value: unknown, limit: number): unknown {
  if (typeof value === 'string') return value.length > limit ? `${value.slice(0, limit)}${TRUNCATED_MARK}` : value;
  if (Array.isArray(value)) return value.map((item) => shortenStrings(item, limit));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) out[name] = shortenStrings(item, limit);
    return out;
  }
  return value;
}

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * A log line (serialized JSON plus newline) that fits {@link MAX_LOG_LINE_BYTES}: long strings are cut
 * (halving their allowed length until it fits) and the entry is marked `logTruncated: true`; an entry
 * that still does not fit keeps only its level, time, message start and original size. Lines that
 * fit are returned as they are (the common case costs one length check).
 *
 * @example
 * ```ts
 * fitLogLine(`${JSON.stringify({ msg: 'x', path: 'a'.repeat(10_000) })}\n`); // <= 4096 bytes, valid JSON
 * ```
 */
export function fitLogLine(line: string): string {
  if (line.length <= SURELY_SHORT) return line;
  const bytes = byteLength(line);
  if (bytes <= MAX_LOG_LINE_BYTES) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    entry = { msg: line.slice(0, 200) };
  }
  for (let limit = 1024; limit >= 16; limit = Math.floor(limit / 2)) {
    const shortened = `${JSON.stringify({ ...(shortenStrings(entry, limit) as object), logTruncated: true })}\n`;
    if (byteLength(shortened) <= MAX_LOG_LINE_BYTES) return shortened;
  }
  const { level, time, service, msg } = entry;
  const minimal = { level, time, service, msg: shortenStrings(msg, 200), logTruncated: true, originalBytes: bytes };
  return `${JSON.stringify(minimal)}\n`;
}

let timeFieldMillis = Number.NaN;
let timeField = '';
/** The first millisecond of the second {@link secondPrefix} names. */
let secondStartMillis = Number.NaN;
/** `,"time":"2026-12-06T00:30:00.` for the second starting at {@link secondStartMillis}. */
let secondPrefix = '';
/** `000Z"` ... `999Z"`: the field's end for each millisecond of a second. */
const MILLISECOND_ENDS = Array.from({ length: 1000 }, (_, millis) => `${String(millis).padStart(3, '0')}Z"`);

/**
 * pino's `isoTime` field for the instant `now` (milliseconds since the epoch): what
 * {@link isoTimeField} writes. Invariant (test/access-line.test.ts, a property over the whole range
 * `Date` formats with four-digit years): equal to `,"time":"${new Date(now).toISOString()}"`.
 * `toISOString()` runs once per second (~7,000 instructions a call); within the second the field is
 * the second's prefix and the millisecond's precomputed end.
 */
export function isoTimeFieldAt(now: number): string {
  if (now !== timeFieldMillis) {
    timeFieldMillis = now;
    let intoSecond = now - secondStartMillis;
    if (!(intoSecond >= 0 && intoSecond < 1000)) {
      // The floor of the second, also before 1970 (where `%` is negative).
      intoSecond = ((now % 1000) + 1000) % 1000;
      secondStartMillis = now - intoSecond;
      // `.000Z` is the end of the second's own ISO string: the prefix is everything before its milliseconds.
      secondPrefix = `,"time":"${new Date(secondStartMillis).toISOString().slice(0, -4)}`;
    }
    timeField = `${secondPrefix}${MILLISECOND_ENDS[intoSecond] as string}`;
  }
  return timeField;
}

/**
 * pino's `isoTime` (`,"time":"2026-12-06T00:30:00.123Z"`), built once per millisecond (its value
 * changes only when `Date.now()` does) from a prefix built once per second: `toISOString()` was a
 * third of an access line's cost, and a server answering fewer than ~1,000 requests a second, or
 * one slowed down (valgrind), met a new millisecond at nearly every line (issue #15).
 *
 * @example
 * ```ts
 * isoTimeField(); // ',"time":"2026-12-06T00:30:00.123Z"', the same string until the next millisecond
 * ```
 */
export function isoTimeField(): string {
  return isoTimeFieldAt(Date.now());
}

/** Marks loggers built by {@link createLogger} (inherited by their children): their access lines can be built by hand. */
const OWN_FORMAT = Symbol('hmac-kit.logger.ownFormat');

/**
 * Held log bytes that start a write at once (below {@link MAX_LOG_LINE_BYTES}). Fewer wait for
 * {@link LOG_BATCH_DELAY_MS}, or for a line that no longer fits beside them (then they are written
 * first). 3072 until session 19: with forward-auth's ~230-byte access lines that was 13-14 lines per
 * write(2), now 16-17 (issue #15); a write is still at most one PIPE_BUF.
 */
export const LOG_BATCH_BYTES = MAX_LOG_LINE_BYTES - 256;
/** The longest a line waits for others to share its write(2). */
export const LOG_BATCH_DELAY_MS = 25;

/**
 * How long a synchronous flush of a {@link batchedStdout} destination (pino's exit handler, and the
 * flush pino follows every fatal line with) waits for a full stdout pipe to take a byte before it
 * gives up, leaving the lines it could not write: sonic-boom retried every 100 ms for as long as
 * the pipe stayed full, and a process whose stdout nobody read never exited.
 */
export const FLUSH_SYNC_STALL_MS = 2_000;
/** The longest a synchronous flush writes to a pipe that takes bytes only slowly (a reader trickling). */
export const FLUSH_SYNC_LIMIT_MS = 10_000;

/**
 * A {@link batchedStdout} destination's `write` for a line the caller knows to be ASCII only (its
 * UTF-8 length is its length): the access line, whose fields were checked as they were escaped,
 * is held without `Buffer.byteLength` scanning it again (issue #15).
 */
export const WRITE_ASCII_LINE = Symbol('hmac-kit.logger.writeAsciiLine');

/**
 * This process's own non-blocking descriptors of pipes (by the pipe's device and inode), and how many
 * {@link batchedStdout} destinations write through each: one descriptor per pipe however many loggers
 * write to it (`startServer` makes one per call, and not every one is ended), closed when the last
 * destination using it ends. The descriptor keeps the pipe's inode alive, so no other pipe can take
 * its key meanwhile.
 */
const ownPipes = new Map<string, { fd: number; users: number }>();

/**
 * A descriptor of this process's own for writing to the pipe `fd` is (a shell's `|`, containerd's
 * FIFOs under Docker and Kubernetes), opened non-blocking, and its key for {@link releaseOwnPipe};
 * `undefined` when `fd` is no pipe (a socket, such as Node's `child_process` stdio and journald's, a
 * file, a terminal) or the pipe cannot be opened again (no /proc, not Linux). Opening
 * `/proc/self/fd/<fd>` of a pipe makes a new open file description of the same pipe: its O_NONBLOCK
 * is this process's alone, so the description `fd` shares with workers, the supervisor and whoever
 * started the server is never changed (a shell's next command would otherwise find its stdout
 * non-blocking), and no other process can make writes through it block. Written bytes go into the
 * same pipe buffer, in write order.
 */
function acquireOwnPipe(fd: number): { key: string; fd: number } | undefined {
  try {
    const shared = fstatSync(fd);
    if (!shared.isFIFO()) return undefined;
    const key = `${shared.dev}:${shared.ino}`;
    const known = ownPipes.get(key);
    if (known !== undefined) {
      known.users++;
      return { key, fd: known.fd };
    }
    // O_CLOEXEC (libuv's default for fs.openSync): workers and other children never inherit it.
    const own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
    const opened = fstatSync(own);
    if (opened.isFIFO() && opened.ino === shared.ino && opened.dev === shared.dev) {
      ownPipes.set(key, { fd: own, users: 1 });
      return { key, fd: own };
    }
    closeSync(own);
  } catch {
    // ENXIO (a FIFO with no reader right now), ENOENT (no /proc), EACCES: the thread pool's writes, as before.
  }
  return undefined;
}

/** One destination less writes through the own descriptor `key` names: closed after the last one. */
function releaseOwnPipe(key: string): void {
  const known = ownPipes.get(key);
  if (known === undefined || --known.users > 0) return;
  ownPipes.delete(key);
  try {
    closeSync(known.fd);
  } catch {
    // Already closed.
  }
}

/**
 * The default bound on the log bytes a {@link batchedStdout} destination holds while stdout takes
 * none (config `logMaxBuffer`, `HMAC_KIT_LOG_MAX_BUFFER`, `--log-max-buffer`): 16 MiB, ~70,000
 * access lines, minutes of a reader's hiccup at a few hundred requests a second.
 */
export const DEFAULT_LOG_MAX_BUFFER_BYTES = 16 * 1024 * 1024;
/** The smallest bound accepted (besides 0, no bound): 16 writes of {@link MAX_LOG_LINE_BYTES}. */
export const MIN_LOG_MAX_BUFFER_BYTES = 64 * 1024;

/** Process-wide: what every {@link batchedStdout} destination dropped, and how to read what each holds now. */
const logHold = { droppedLines: 0, droppedBytes: 0, holders: new Set<() => number>() };

/**
 * What this process's {@link batchedStdout} destinations dropped since it started (whole lines, and
 * their bytes) because stdout took nothing while they held their bound, and how many log bytes they
 * hold now: read by `/metrics` (`hmac_kit_log_lines_dropped_total`, `hmac_kit_log_bytes_dropped_total`,
 * `hmac_kit_log_held_bytes`).
 *
 * @example
 * ```ts
 * const { droppedLines, droppedBytes, heldBytes } = logHoldStats();
 * ```
 */
export function logHoldStats(): { droppedLines: number; droppedBytes: number; heldBytes: number } {
  let heldBytes = 0;
  for (const held of logHold.holders) heldBytes += held();
  return { droppedLines: logHold.droppedLines, droppedBytes: logHold.droppedBytes, heldBytes };
}

/** How many lines (newlines) `chunk` holds. */
function countLines(chunk: Buffer): number {
  let lines = 0;
  for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lines++;
  return lines;
}

/** How long sonic-boom waits before it writes again after EAGAIN (its BUSY_WRITE_TIMEOUT); batchedStdout's retries wait as long. */
const SONIC_BOOM_RETRY_MS = 100;

/** What batchedStdout's flushSync() writes to restart sonic-boom's asynchronous writes after giving up. */
const EMPTY_CHUNK = Buffer.alloc(0);

/**
 * The server's stdout: whole lines of at most {@link MAX_LOG_LINE_BYTES} per write(2), written at
 * once from the event loop's thread when stdout is a pipe (a non-blocking descriptor of the
 * process's own: see `release` inside), else by sonic-boom asynchronously on libuv's thread pool.
 * Lines are held until {@link LOG_BATCH_BYTES} are held or the oldest has waited
 * {@link LOG_BATCH_DELAY_MS}. Without the hold, a line logged while no
 * write was in progress started one (a thread-pool job, the write(2), a wake-up of the event loop
 * when it completed): measured at a few hundred forward-auth requests a second, 0.31 log writes
 * per request, 0.24 with it (`syscw` of /proc/<pid>/io; fewer the busier the server, issue #15).
 *
 * The lines are held here, in one string with its byte count, and handed to sonic-boom as one
 * chunk of whole lines of at most {@link MAX_LOG_LINE_BYTES} bytes: sonic-boom's own holding
 * (`minLength`) measured the UTF-8 length of everything it held again at every line (a rope
 * flattened and scanned per line: ~1.6 µs of the ~2.5 µs an access line cost to write, issue #15).
 * The timer runs only while lines are held (an idle server sets none); `flush()`, `flushSync()`
 * (pino's exit handler) and `end()` (shutdown: `exitAfterFlush`) hand over whatever is held first,
 * so no line is lost on a shutdown. A synchronous flush writes as long as the pipe takes bytes, but
 * gives up after {@link FLUSH_SYNC_STALL_MS} without one, or {@link FLUSH_SYNC_LIMIT_MS} in all: a
 * crash exits even when nobody reads the log (test/crash-exit-log.test.ts).
 *
 * Bounded: while stdout takes nothing (its reader died or hangs) sonic-boom queues what it is
 * handed, at most `maxBufferBytes` (default {@link DEFAULT_LOG_MAX_BUFFER_BYTES}; 0: no bound) with
 * sonic-boom's own `maxLength`: a batch that would go beyond it is dropped whole (whole lines only,
 * never a cut one; lines already queued are never dropped), counted ({@link logHoldStats}), and once
 * sonic-boom's queue is back below half the bound (stdout took bytes again), or at `end()`, one warn
 * line `log lines dropped` says how many lines and bytes were lost since the last such line
 * (test/log-queue-bound.test.ts).
 *
 * @example
 * ```ts
 * const logger = pino({}, batchedStdout()); // what createLogger() writes to when given no destination
 * ```
 */
export function batchedStdout(fd = 1, options: { maxBufferBytes?: number } = {}): ReturnType<typeof pino.destination> {
  const maxBufferBytes = options.maxBufferBytes ?? DEFAULT_LOG_MAX_BUFFER_BYTES;
  // Buffers, not strings: sonic-boom's string mode measures each chunk's UTF-8 length as it takes it,
  // encodes it to write it, and encodes it again into a Buffer once written (four passes over every
  // batch); handed a Buffer it only writes it (issue #15).
  /** While a synchronous flush runs: when it started, and when the pipe last took bytes (and how many were left then). */
  let syncFlush: { started: number; progressed: number; left: number } | undefined;
  const destination = pino.destination({
    dest: fd,
    sync: false,
    maxWrite: MAX_LOG_LINE_BYTES,
    minLength: 0,
    // sonic-boom drops (and emits 'drop' for) a chunk that would take its queue, the write in
    // flight included, beyond this: our chunks are whole lines, so whole lines are dropped. 0: none.
    maxLength: maxBufferBytes,
    contentMode: 'buffer',
    // sonic-boom asks at every EAGAIN whether to try again (after 100 ms): the asynchronous writes
    // always do (the event loop runs meanwhile); a synchronous flush, which blocks it, only while
    // the pipe takes bytes (`left`, what remains to write, went down) and within its limit.
    retryEAGAIN: (_error: Error, writing: number, queued: number) => {
      if (syncFlush === undefined) return true;
      const now = Date.now();
      const left = writing + queued;
      if (left < syncFlush.left) {
        syncFlush.left = left;
        syncFlush.progressed = now;
      }
      return now - syncFlush.progressed < FLUSH_SYNC_STALL_MS && now - syncFlush.started < FLUSH_SYNC_LIMIT_MS;
    },
  });
  /** sonic-boom's state (buffer mode) read here, and taken over for a write waiting on its retry. */
  const stream = destination as unknown as {
    destroyed?: boolean;
    fd: number;
    _writing: boolean;
    _len: number;
    _writingBuf: Buffer;
    _bufs: Buffer[][];
    _lens: number[];
    release: (error: NodeJS.ErrnoException | null, written?: number) => void;
    retryEAGAIN: (error: Error, writing: number, queued: number) => boolean;
  };
  const { write, flush, flushSync, end, destroy } = destination;
  /**
   * The write in flight met EAGAIN (a full pipe) and waits on this timer to try again; undefined
   * when no write waits (none in flight, or one on libuv's thread pool). sonic-boom retries from a
   * timer of its own, which its flushSync() cannot tell from a write on the thread pool: it skipped
   * the write in flight, and at exit (pino's exit hook) that timer never runs, so those lines were
   * lost: access lines of answered requests, or a crash's fatal line when the reader was slow
   * (test/review16-flush-sync.test.ts, test/crash-exit-log.test.ts). Hence the retry is ours.
   * Left: a write on the thread pool when the process exits (its result never reaches the event
   * loop) is still skipped; it is there only from its retry timer (or first write) to its callback.
   */
  let retryTimer: NodeJS.Timeout | undefined;
  const sonicRelease = stream.release;
  const retryWrite = () => {
    retryTimer = undefined;
    // sonic-boom's own retry (buffer mode): the unwritten rest of the write in flight.
    fsWrite(stream.fd, stream._writingBuf, stream.release);
  };
  // sonic-boom hands every asynchronous write's result to `this.release`, looked up at each write.
  stream.release = (error, written) => {
    if (
      (error?.code === 'EAGAIN' || error?.code === 'EBUSY') &&
      stream.retryEAGAIN(error, stream._writingBuf.length, stream._len - stream._writingBuf.length)
    ) {
      retryTimer = setTimeout(retryWrite, SONIC_BOOM_RETRY_MS);
    } else {
      sonicRelease(error, written);
    }
    settleWaiting();
  };
  const cancelRetry = () => {
    clearTimeout(retryTimer);
    retryTimer = undefined;
  };
  /** While flushSync's empty write in flight waits for its turn (see `continueAfter`): on no thread. */
  let continuing = false;
  /** Waiting for no write to be on libuv's thread pool (settleLogWrites). */
  let settled: Array<() => void> = [];
  /** Whether no write's result is still to come back from the thread pool. */
  const offThreadPool = () => stream.destroyed === true || !stream._writing || retryTimer !== undefined || continuing;
  const settleWaiting = () => {
    if (settled.length === 0 || !offThreadPool()) return;
    const waiting = settled;
    settled = [];
    for (const done of waiting) done();
  };
  // Invariant: every asynchronous write's result comes back through `release` (sonic-boom's writes
  // look it up as they start), so a write is on the thread pool exactly while `_writing` holds with
  // no retry timer armed and no flushSync continuation pending: then the exit waits for its result.
  (destination as unknown as Record<symbol, unknown>)[SETTLE_WRITES] = (done: () => void) => {
    settled.push(done);
    settleWaiting();
  };
  destination.once('close', () => {
    cancelRetry();
    settleWaiting();
  });
  let held = '';
  let heldBytes = 0;
  let armed = false;
  /** This process's own non-blocking descriptor of the pipe `fd` is, for writes from the event loop's thread. */
  const ownPipe = acquireOwnPipe(fd);
  let direct = ownPipe?.fd;
  /**
   * Hands the held lines over as one write of whole lines: written at once from this thread when
   * `fd` is a pipe and sonic-boom has nothing queued nor in flight, else to sonic-boom.
   *
   * Fast path (issue #15, session 16): sonic-boom writes on libuv's thread pool: per write a job
   * queued, a pool thread woken (futexes), the write(2), an eventfd write and an event-loop wake-up
   * to run its callback: ~6 futex calls, 2 eventfd syscalls and 2 context switches besides the
   * write (strace -f -c of `hmac-kit serve`, bench/serve-threads.js), 20-30 µs of CPU per write
   * against ~5 µs for the write(2) alone. Invariants: (1) the chunk is whole lines and at most
   * MAX_LOG_LINE_BYTES = PIPE_BUF bytes, and `direct` is non-blocking on a pipe: the write(2)
   * either takes all of it at once (never split nor interleaved with another process's) or fails
   * with EAGAIN without blocking, and a full pipe's chunk goes to sonic-boom, which retries it
   * from a timer, as before; (2) it is only taken while sonic-boom is idle, so the pipe receives the
   * lines in the order they were logged; (3) a write(2) that returned is in the pipe: nothing is
   * left for an exit to lose. Any error (EAGAIN, EPIPE...) hands the chunk to sonic-boom, which
   * reports it as before. Held to the general path's bytes by a property in test/log-direct-pipe.test.ts.
   */
  const release = () => {
    if (heldBytes === 0) return;
    const text = held;
    const bytes = heldBytes;
    held = '';
    heldBytes = 0;
    // The held lines are ASCII exactly when their UTF-8 length is their length (any other character
    // takes more bytes than UTF-16 units): then latin1 gives the same bytes without an encoder.
    const encoding = bytes === text.length ? 'latin1' : 'utf8';
    if (direct !== undefined && !stream._writing && stream._len === 0 && bytes <= MAX_LOG_LINE_BYTES) {
      try {
        // A non-blocking pipe write of at most PIPE_BUF bytes is all or nothing (POSIX). The string
        // itself is written (node encodes it into a buffer of its own for the call): no Buffer made
        // in JS, no slice of Buffer's pool (session 19: Buffer.from was ~1,500 instructions per line).
        if (writeSync(direct, text, null, encoding) === bytes) return;
      } catch {
        // EAGAIN: the pipe is full; anything else is sonic-boom's to report.
      }
    }
    write.call(destination, Buffer.from(text, encoding) as unknown as string);
  };
  const closeDirect = () => {
    if (direct === undefined || ownPipe === undefined) return;
    direct = undefined;
    releaseOwnPipe(ownPipe.key);
  };
  destination.once('close', closeDirect);
  /** Dropped since the last `log lines dropped` line. */
  let droppedLines = 0;
  let droppedBytes = 0;
  let reportPending = false;
  destination.on('drop', (chunk: Buffer) => {
    const lines = countLines(chunk);
    droppedLines += lines;
    droppedBytes += chunk.length;
    logHold.droppedLines += lines;
    logHold.droppedBytes += chunk.length;
  });
  /** Holds the `log lines dropped` line (the drops since the last one), if any were dropped. */
  const reportDropped = () => {
    if (droppedLines === 0 || stream.destroyed) return;
    const line = `{"level":"warn"${isoTimeField()},"service":"hmac-kit","pid":${process.pid},"msg":"log lines dropped","droppedLines":${droppedLines},"droppedBytes":${droppedBytes},"logMaxBuffer":${maxBufferBytes}}\n`;
    droppedLines = 0;
    droppedBytes = 0;
    hold(line, line.length);
  };
  // sonic-boom emits 'write' before it counts the bytes written off its queue: looked at after.
  const reportWhenRoom = () => {
    reportPending = false;
    if (stream._len <= maxBufferBytes / 2) reportDropped();
  };
  destination.on('write', () => {
    if (droppedLines === 0 || reportPending) return;
    reportPending = true;
    setImmediate(reportWhenRoom);
  });
  const heldNow = () => stream._len + heldBytes;
  logHold.holders.add(heldNow);
  destination.once('close', () => logHold.holders.delete(heldNow));
  const flushHeld = () => {
    armed = false;
    if (!stream.destroyed) release();
  };
  /** Holds `line` of `bytes` UTF-8 bytes (the caller's count: {@link WRITE_ASCII_LINE} knows it without a scan). */
  const hold = (line: string, bytes: number): boolean => {
    if (stream.destroyed) return write.call(destination, line); // throws, as sonic-boom does
    // A line of createLogger() is at most MAX_LOG_LINE_BYTES (fitLogLine): a chunk never exceeds it.
    if (heldBytes + bytes > MAX_LOG_LINE_BYTES) release();
    held += line;
    heldBytes += bytes;
    if (heldBytes >= LOG_BATCH_BYTES) release();
    else if (!armed) {
      armed = true;
      setTimeout(flushHeld, LOG_BATCH_DELAY_MS).unref();
    }
    return true;
  };
  destination.write = (line: string): boolean => hold(line, Buffer.byteLength(line));
  (destination as unknown as Record<symbol, unknown>)[WRITE_ASCII_LINE] = (line: string): boolean =>
    hold(line, line.length);
  destination.flush = function flushWithHeld(this: typeof destination, callback?: (error?: Error) => void) {
    release();
    return flush.call(this, callback as (error?: Error) => void);
  };
  destination.flushSync = function flushSyncWithHeld(this: typeof destination) {
    // Handed over while sonic-boom is idle, the held lines would start an asynchronous write
    // (libuv's thread pool) that its flushSync() then leaves in flight: lost if the process exits
    // now (pino's exit hook), as it may behind a busy pool. With minLength above any length for
    // the moment, write() only queues them and flushSync() writes them here, in order after
    // whatever sonic-boom had queued (test/review16-flush-sync.test.ts).
    // (`minLength` is sonic-boom's own option, read by its write() on every call; not in its types.)
    const boom = this as unknown as { minLength: number };
    const minLength = boom.minLength;
    boom.minLength = Number.POSITIVE_INFINITY;
    try {
      // Dropped within the bound if the queue is still full (and counted again): never beyond it.
      reportDropped();
      release();
    } finally {
      boom.minLength = minLength;
    }
    // Invariant: a write waiting on its retry timer is on no thread: `_writingBuf` is exactly what it
    // has not written (a partial write leaves the rest there). It goes back to the head of the queue,
    // written first below, in order; sonic-boom still sees a write in flight (an empty one, which
    // flushSync skips) until `continueAfter` completes it, as a write on the thread pool would.
    const continueAfter = retryTimer !== undefined;
    if (continueAfter) {
      cancelRetry();
      stream._bufs.unshift([stream._writingBuf]);
      stream._lens.unshift(stream._writingBuf.length);
      stream._writingBuf = EMPTY_CHUNK;
    }
    const now = Date.now();
    syncFlush = { started: now, progressed: now, left: Number.POSITIVE_INFINITY };
    try {
      flushSync.call(this);
    } catch (error) {
      // Given up on a pipe that took nothing (retryEAGAIN above): the lines left stay queued, for
      // the asynchronous writes if the process goes on. Anything else is thrown as before.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EBUSY') throw error;
      // The held lines were queued without a write of their own: an empty one starts the
      // asynchronous writes again if none is in flight (queued behind it otherwise).
      write.call(this, EMPTY_CHUNK as unknown as string);
    } finally {
      syncFlush = undefined;
      // The empty write completes as any write does: the next queued one starts, or the ending
      // stream closes, or 'drain'. Not from inside flushSync() (pino's fatal lines call it): on the
      // next turn. At exit no turn comes: what flushSync() wrote is all there is.
      if (continueAfter) {
        continuing = true;
        setImmediate(() => {
          continuing = false;
          if (!stream.destroyed) sonicRelease(null, 0);
          settleWaiting();
        });
      }
    }
  };
  destination.end = function endWithHeld(this: typeof destination) {
    reportDropped();
    release();
    closeDirect();
    return end.call(this);
  };
  destination.destroy = function destroyWithDirect(this: typeof destination) {
    closeDirect();
    cancelRetry();
    return destroy.call(this);
  };
  return destination;
}

/**
 * Calls `done` once `stream` (a logger's destination) has no log write whose result is still to
 * come back from libuv's thread pool, before a process exits: pino's exit flush skips such a write,
 * and its result never comes. Any other destination: at once.
 *
 * @example
 * ```ts
 * settleLogWrites(destination, () => process.exit(1));
 * ```
 */
export function settleLogWrites(stream: unknown, done: () => void): void {
  const settle = (stream as Record<symbol, unknown> | undefined)?.[SETTLE_WRITES];
  if (typeof settle === 'function') settle(done);
  else done();
}

/** A {@link batchedStdout} destination's `(done) => void`: see {@link settleLogWrites}. */
const SETTLE_WRITES = Symbol('hmac-kit.logger.settleWrites');

/**
 * The server's structured JSON logger (pino). Secrets and signature headers are redacted
 * at the logger, so a careless field can never leak one. Every line fits {@link MAX_LOG_LINE_BYTES}.
 * Lines are buffered and written asynchronously ({@link batchedStdout}), in write(2) calls of whole lines
 * and at most {@link MAX_LOG_LINE_BYTES} bytes (`maxWrite`): a write of at most PIPE_BUF bytes
 * to a pipe is never split nor interleaved with another process's, so workers and their
 * supervisor sharing one stdout (`sharedOutput`) still write whole lines, and the buffer is
 * flushed synchronously when the process exits. (Until issue #15 shared output was written
 * synchronously, one write(2) per line: ~5-10 µs per request more.)
 *
 * @example
 * ```ts
 * const logger = createLogger('info');
 * logger.info({ url }, 'listening');
 * ```
 */
export function createLogger(
  level: string,
  destination?: NodeJS.WritableStream,
  options: {
    // Whether other processes write to the same stdout: every destination of this logger is safe for that now.
    sharedOutput?: boolean;
    /** The bound on held log bytes of the default destination ({@link batchedStdout}). */
    maxBufferBytes?: number;
  } = {},
): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'hmac-kit' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: isoTimeField,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: fitLogLine },
    },
    destination ?? batchedStdout(1, { maxBufferBytes: options.maxBufferBytes }),
  );
  (logger as unknown as Record<symbol, boolean>)[OWN_FORMAT] = true;
  return logger;
}

/** The fields of one access-log line (`msg: "request"`), in the order they are written. */
export interface AccessLogFields {
  reqId: string;
  method: string | undefined;
  path: string;
  status: number;
  ms: number;
  aborted?: boolean;
  keyId?: string;
  scheme?: string;
  code?: string;
  remote?: string;
}

const levelInfo = '{"level":"info"';
const endRequest = ',"msg":"request"}\n';

/**
 * Writes one access-log line at level info (the caller checks `isLevelEnabled('info')`). For a
 * logger of {@link createLogger} the line is serialized here, exactly as pino would write it
 * (level, time, bindings, fields, msg; JSON-escaped strings; cut by {@link fitLogLine}) but
 * without pino's generic serializer and its redaction pass, which none of these fields needs
 * (no secret ever appears in them): ~2 µs instead of ~10-15 µs per request. Any other logger
 * (a test's) gets `logger.info(fields, 'request')`.
 *
 * @example
 * ```ts
 * if (logger.isLevelEnabled('info')) writeAccessLine(logger, { reqId, method: 'GET', path: '/verify', status: 200, ms: 0.4 });
 * ```
 */
export function writeAccessLine(logger: Logger, fields: AccessLogFields, plainRequestId = false): void {
  const own = logger as unknown as Record<symbol, unknown>;
  if (own[OWN_FORMAT] !== true) {
    logger.info(fields, 'request');
    return;
  }
  asciiOnly = true;
  // Each string field is written between quotes of the surrounding literals (its JSON contents,
  // not a quoted string of its own): two string pieces per field instead of four, so fewer
  // concatenations and fewer pieces for the batch's flattening at its write (issue #15).
  const { method, keyId, scheme, code, remote } = fields;
  // The method, key id, scheme and remote address of a line are mostly those of an earlier line
  // (the same string, often the same object): each is checked against the last value of its field
  // found to be its own JSON contents before the expression runs (~375 instructions a test; session 20).
  // `plainRequestId`: the caller vouches that the id is its own JSON contents (the server's ids:
  // REQUEST_ID's characters or 32 hex digits, app.ts), so no expression runs on it (session 22).
  const reqId = plainRequestId ? fields.reqId : jsonStringContents(fields.reqId);
  let line = `${lineHead(own[pino.symbols.chindingsSym] as string)}${reqId}"`;
  if (method !== undefined) line += `,"method":"${repeatedContents(method, 0)}"`;
  // The path repeats too (every forward-auth line's is the verify path): its own slot (session 22).
  line += `,"path":"${repeatedContents(fields.path, 4)}","status":${fields.status},"ms":${hundredthsText(fields.ms)}`;
  if (fields.aborted) line += ',"aborted":true';
  if (keyId !== undefined) line += `,"keyId":"${repeatedContents(keyId, 1)}"`;
  if (scheme !== undefined) line += `,"scheme":"${repeatedContents(scheme, 2)}"`;
  if (code !== undefined) line += `,"code":"${jsonStringContents(code)}"`;
  if (remote !== undefined) line += `,"remote":"${repeatedContents(remote, 3)}"`;
  const stream = own[pino.symbols.streamSym] as {
    write(text: string): unknown;
    [WRITE_ASCII_LINE]?: (text: string) => unknown;
  };
  const whole = line + endRequest;
  const fitted = fitLogLine(whole);
  // ASCII only: every field as checked by jsonString, the time field (an ISO date) and the
  // bindings (checked once per bindings string). A line fitLogLine had to cut is not the same
  // string (its mark is not ASCII) and goes the general way. Held to Buffer.byteLength in
  // test/access-line.test.ts for arbitrary fields.
  const writeAscii = stream[WRITE_ASCII_LINE];
  if (asciiOnly && fitted === whole && writeAscii !== undefined && isAsciiBindings(own)) writeAscii(fitted);
  else stream.write(fitted);
}

/**
 * What the access line records of a request target: its path, without its query (which can carry
 * a presigned SigV4 signature) nor its fragment (which no client should send, and some flows put
 * tokens in), and, for an absolute-form target (`http://user:password@host/p`: what a request made
 * as through a forward proxy carries), without the userinfo of its authority, which RFC 9110 forbids
 * senders to write there but Node's parser accepts.
 *
 * Fast path: an origin-form target (`/...`, nearly every request) is only cut at its `?` or `#`,
 * as before (a `//a:b@c` path is a path: nothing is taken out of it). Invariant of the rest: the
 * authority runs from `://` to the next `/` (or the end), and everything in it up to its last `@`
 * is dropped; a parser that ends the authority earlier (WHATWG's `\`) only makes this drop more.
 * Held by test/adversarial/review16-access-line.test.ts and a property in test/access-line.test.ts.
 *
 * @example
 * ```ts
 * accessLogPath('http://user:pw@example.com/a?X-Amz-Signature=f00'); // 'http://example.com/a'
 * ```
 */
export function accessLogPath(target: string): string {
  let path = target;
  const query = path.indexOf('?');
  if (query !== -1) path = path.slice(0, query);
  const fragment = path.indexOf('#');
  if (fragment !== -1) path = path.slice(0, fragment);
  if (path.charCodeAt(0) === 0x2f) return path;
  const scheme = path.indexOf('://');
  if (scheme === -1) return path;
  const start = scheme + 3;
  const slash = path.indexOf('/', start);
  const end = slash === -1 ? path.length : slash;
  const at = path.lastIndexOf('@', end - 1);
  return at < start ? path : `${path.slice(0, start)}${path.slice(at + 1)}`;
}

/**
 * `text` with the password of every URL in it replaced by `***`, for an error message logged as it
 * is: a store client may write its connection URL into one (`redis://default:pw@host:6379` becomes
 * `redis://default:***@host:6379`, as `StoreInfo.location` shows a PostgreSQL URL). As in
 * {@link accessLogPath}, a URL's authority runs from `://` to the next `/`, `?`, `#` (or white
 * space); its userinfo up to the last `@` in it, and the password is what follows the first `:`
 * of that userinfo (a user name alone is kept). Used on the store error lines (start-up, shutdown, a
 * store unreachable): never per request.
 *
 * @example
 * ```ts
 * withoutUrlPasswords('connect to redis://:s3cret@cache:6379 failed'); // 'connect to redis://:***@cache:6379 failed'
 * ```
 */
export function withoutUrlPasswords(text: string): string {
  return text.includes('://') ? text.replace(/(:\/\/[^\s/?#@:]*):[^\s/?#]*@/g, '$1:***@') : text;
}

/** `.01` ... `.99` (and `` for 0): the fraction of a number of hundredths, as `String()` writes it. */
const HUNDREDTHS = Array.from({ length: 100 }, (_, hundredths) =>
  hundredths === 0 ? '' : `.${String(hundredths).padStart(2, '0').replace(/0$/, '')}`,
);

/**
 * `String(ms)` for the access line's duration, a number of milliseconds rounded to hundredths
 * (`Math.round(x * 100) / 100`), without V8's general double-to-text conversion (~700
 * instructions through its runtime per line): the whole part (a small integer, from V8's cache of
 * small number strings) and a precomputed fraction. Invariant: only for a value that is exactly
 * `h / 100` for an integer `h` from 0 to 10^15 (its shortest round-trip text then has at most
 * two decimals, no exponent, no trailing zero); anything else (more decimals, negative, huge,
 * NaN) goes to `String()`. Equal to `String(ms)` for every number (property test in
 * test/access-line.test.ts).
 */
export function hundredthsText(ms: number): string {
  const hundredths = Math.round(ms * 100);
  if (hundredths >= 0 && hundredths < 1e15 && hundredths / 100 === ms) {
    const fraction = hundredths % 100;
    return `${(hundredths - fraction) / 100}${HUNDREDTHS[fraction] as string}`;
  }
  return String(ms);
}

let checkedBindings: string | undefined;
let checkedBindingsAscii = false;

/** Whether the logger's bindings string (`,"service":"hmac-kit"`...) is ASCII; one logger's bindings are one string, checked once. */
function isAsciiBindings(own: Record<symbol, unknown>): boolean {
  const bindings = own[pino.symbols.chindingsSym] as string;
  if (bindings !== checkedBindings) {
    checkedBindings = bindings;
    checkedBindingsAscii = Buffer.byteLength(bindings) === bindings.length;
  }
  return checkedBindingsAscii;
}

/** Whether every string {@link jsonString} serialised since it was last set was printable ASCII. */
let asciiOnly = true;

/**
 * `JSON.stringify(value)` for a string, without the serialiser for the usual printable ASCII: such a
 * string needs no escape, so its JSON is itself in quotes. Anything else (a quote, a backslash, a
 * control character, DEL or beyond: lone surrogates must be escaped) is JSON.stringify's, and
 * clears {@link asciiOnly}. Equal to `JSON.stringify(value)` for every string (property test).
 */
export function jsonString(value: string): string {
  return `"${jsonStringContents(value)}"`;
}

/**
 * What {@link jsonString} writes between its quotes: the string itself when it is printable ASCII
 * without a quote or a backslash (no allocation), else `JSON.stringify(value)` without its quotes
 * (and {@link asciiOnly} cleared). Invariant: `"${jsonStringContents(v)}"` equals
 * `JSON.stringify(v)` for every string (JSON.stringify of a string always starts and ends with its
 * one pair of quotes; property test in test/access-line.test.ts).
 */
export function jsonStringContents(value: string): string {
  if (!NOT_OWN_JSON.test(value)) return value;
  asciiOnly = false;
  const quoted = JSON.stringify(value);
  return quoted.slice(1, quoted.length - 1);
}

/**
 * The last value of each repeated access-line field (method, key id, scheme, remote address, path)
 * that was found to be its own JSON contents. Invariant: a slot only ever holds a string for which
 * NOT_OWN_JSON found nothing (or the initial empty string, which is its own contents too).
 */
const plainSeen: string[] = ['', '', '', '', ''];

/**
 * {@link jsonStringContents} for a field whose value repeats from line to line: a value equal to
 * the last one of its `slot` found plain answers itself, without the expression. Equal to
 * `jsonStringContents(value)` for every value and history (the access-line properties).
 */
function repeatedContents(value: string, slot: number): string {
  if (value === plainSeen[slot]) return value;
  if (NOT_OWN_JSON.test(value)) {
    asciiOnly = false;
    const quoted = JSON.stringify(value);
    return quoted.slice(1, quoted.length - 1);
  }
  plainSeen[slot] = value;
  return value;
}

/**
 * A character that keeps a string from being its own JSON contents: a control character, `"`, `\`,
 * DEL, or anything beyond ASCII (lone surrogates included, which JSON.stringify escapes). One
 * regular expression (irregexp's native code: a few instructions per character) instead of a
 * `charCodeAt` loop (~20 instructions per character under callgrind, each call dispatching on the
 * string's representation; session 19, issue #15).
 */
const NOT_OWN_JSON = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

/**
 * The last line head of {@link lineHead} and what it was built for. Fields of one object, not
 * module-level `let`s: TurboFan's code for lineHead was thrown away (deoptimised) again and again
 * while it ran on module variables whose value changes every millisecond, and ~80% of the calls
 * ran unoptimised (~1.1k instructions a line under callgrind, session 20).
 */
const lastHead = { time: '', bindings: '', head: '' };

/**
 * `{"level":"info","time":"…","service":"hmac-kit"…,"reqId":"` for the current millisecond and
 * `bindings`: built once per millisecond and bindings string (one comparison of each when neither
 * changed, as {@link isoTimeField} answers the same string within a millisecond), instead of three
 * concatenations per line. Invariant: equal to `${levelInfo}${isoTimeField()}${bindings},"reqId":"`.
 */
function lineHead(bindings: string): string {
  const time = isoTimeField();
  const last = lastHead;
  if (time !== last.time || bindings !== last.bindings) {
    last.time = time;
    last.bindings = bindings;
    last.head = `${levelInfo}${time}${bindings},"reqId":"`;
  }
  return last.head;
}

export type { Logger };
