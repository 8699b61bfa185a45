import type { KeyRateLimit } from '@hmac-kit/keys';

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  g: 1024 ** 3,
};

/**
 * The longest duration anyone may type (CLI options, admin API bodies, server settings): 10 years
 * (3650 days). A key that should live longer is made without an expiry. Bounding the parser keeps
 * every expiry it leads to a valid Date (`now` + 10 years is far below Date's 8.64e15 ms and the
 * stores' 64-bit epoch milliseconds), where `--expires 1000000000w` used to make an Invalid Date.
 * The key service holds its inputs to the same bound (`MAX_KEY_LIFETIME_SECONDS`, @hmac-kit/keys).
 */
export const MAX_DURATION_SECONDS = 3650 * 86_400;

const DURATION_CEILING = 'at most 3650d (10 years)';

/** `text` as an error message quotes it: at most 40 characters. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

/**
 * Parses a human duration (`90d`, `12h`, `30m`, `45s`, `2w`) into whole seconds, from 0 to
 * {@link MAX_DURATION_SECONDS}. A bare number is taken as seconds. Throws a `TypeError` with a
 * one-line message otherwise.
 *
 * @example
 * ```ts
 * parseDuration('90d'); // 7776000
 * ```
 */
export function parseDuration(text: string | number, what = 'duration'): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) {
      throw new TypeError(`invalid ${what} ${String(text)}: expected a non-negative number of seconds`);
    }
    if (text > MAX_DURATION_SECONDS) throw new TypeError(`invalid ${what} ${String(text)}: ${DURATION_CEILING}`);
    return Math.floor(text);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(text);
  if (!match) {
    throw new TypeError(
      `invalid ${what} ${quoted(text)}: use a number followed by s, m, h, d or w (e.g. 90d, 12h, 30m, 45s)`,
    );
  }
  const unit = (match[2] || 's').toLowerCase();
  // Infinity for a number too long for a double: refused with the rest.
  const seconds = Number(match[1]) * (DURATION_UNITS[unit] ?? 1);
  if (!(seconds <= MAX_DURATION_SECONDS))
    throw new TypeError(`invalid ${what} ${quoted(text.trim())}: ${DURATION_CEILING}`);
  return Math.floor(seconds);
}

/**
 * Parses a byte size (`10mb`, `512kb`, `1048576`) into bytes. Throws a `TypeError` otherwise.
 *
 * @example
 * ```ts
 * parseByteSize('10mb'); // 10485760
 * ```
 */
export function parseByteSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (Number.isInteger(text) && text >= 0) return text;
    throw new TypeError(`invalid ${what} ${String(text)}: expected a non-negative whole number of bytes`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = (match?.[2] || 'b').toLowerCase();
  const factor = SIZE_UNITS[unit];
  if (!match || factor === undefined) {
    throw new TypeError(`invalid ${what} ${JSON.stringify(text)}: use bytes or a number followed by kb, mb or gb`);
  }
  return Math.floor(Number(match[1]) * factor);
}

/**
 * The most requests a rate limit allows per window: the key service's `MAX_RATE_LIMIT_REQUESTS`
 * (@hmac-kit/keys; a test holds them equal), so that the rate-limit headers' numbers stay RFC 8941
 * integers. The window is a duration, at most {@link MAX_DURATION_SECONDS}.
 */
export const MAX_RATE_LIMIT_REQUESTS = 1_000_000_000;

/**
 * Parses a rate limit written `requests/window` (`100/1m`, `10/30s`), or given as
 * `{ limit, window }` in a config file, into a whole number of requests (at least 1) per a
 * window of at least one second. The one parser behind `--rate-limit` on `hmac-kit serve` and on
 * `hmac-kit keys create|import`. Throws a `TypeError` with a one-line message (`example` is the
 * value it suggests) otherwise.
 *
 * @example
 * ```ts
 * parseRateLimit('100/1m'); // { limit: 100, windowSeconds: 60 }
 * ```
 */
export function parseRateLimit(
  value: string | { limit: number; window: string | number },
  example = '600/1m',
): KeyRateLimit {
  const [limitText, windowText] =
    typeof value === 'string' ? value.split('/') : [String(value.limit), String(value.window)];
  const limit = Number(limitText);
  let windowSeconds = 0;
  try {
    windowSeconds = parseDuration(windowText ?? '', 'rate limit window');
  } catch {
    windowSeconds = 0;
  }
  if (Number.isInteger(limit) && limit > MAX_RATE_LIMIT_REQUESTS) {
    const shown = typeof value === 'string' ? value : `${value.limit}/${value.window}`;
    throw new TypeError(
      `invalid rate limit ${JSON.stringify(shown.length > 40 ? `${shown.slice(0, 37)}...` : shown)}: at most ${MAX_RATE_LIMIT_REQUESTS} requests per window`,
    );
  }
  if (!Number.isInteger(limit) || limit < 1 || windowSeconds < 1) {
    const shown = typeof value === 'string' ? value : `${value.limit}/${value.window}`;
    throw new TypeError(`invalid rate limit ${JSON.stringify(shown)}: use requests/window, e.g. ${example}`);
  }
  return { limit, windowSeconds };
}

/**
 * The bytes of a secret written as hex (an even count of hex digits) or base64 (standard or
 * URL-safe, padding optional), or `undefined` when `text` is not that. The one rule for imported
 * secrets, shared by `hmac-kit keys import` and `POST /v1/admin/keys/import`; each caller words the
 * refusal, and none quotes the text (it is a secret).
 *
 * @example
 * ```ts
 * decodeSecretText('00ff', 'hex'); // <Buffer 00 ff>
 * decodeSecretText('c2VjcmV0', 'base64'); // the 6 bytes of 'secret'
 * decodeSecretText('xyz', 'hex'); // undefined
 * ```
 */
export function decodeSecretText(text: string, encoding: 'hex' | 'base64'): Buffer | undefined {
  if (encoding === 'hex') return /^(?:[0-9A-Fa-f]{2})+$/.test(text) ? Buffer.from(text, 'hex') : undefined;
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
