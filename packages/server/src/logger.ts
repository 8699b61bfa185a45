import { type Logger, pino } from 'pino';

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

/**
 * The server's structured JSON logger (pino). Secrets and signature headers are redacted
 * at the logger, so a careless field can never leak one. Every line fits {@link MAX_LOG_LINE_BYTES}.
 * With `sharedOutput` (several processes writing to one stdout: workers and their supervisor)
 * each line is written by one write(2) of its own, which the kernel keeps whole; otherwise lines
 * are buffered and written in batches (cheaper; nobody else writes in between).
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
  options: { sharedOutput?: boolean } = {},
): Logger {
  return pino(
    {
      level,
      base: { service: 'hmac-kit' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: fitLogLine },
    },
    destination ?? pino.destination({ dest: 1, sync: options.sharedOutput === true }),
  );
}

export type { Logger };
