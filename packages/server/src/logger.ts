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
 * The server's structured JSON logger (pino). Secrets and signature headers are redacted
 * at the logger, so a careless field can never leak one.
 *
 * @example
 * ```ts
 * const logger = createLogger('info');
 * logger.info({ url }, 'listening');
 * ```
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hmac-kit' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
