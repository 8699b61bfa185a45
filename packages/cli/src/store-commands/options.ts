/** Option parsers the store commands share: lists, durations, rate limits, `--limit` and paging. */
import type { KeyRateLimit, Page } from '@hmac-kit/keys';
import { parseDuration, parseRateLimit } from '@hmac-kit/server/units';
import { CliError, type Io } from '../output.js';

/**
 * A repeatable, comma-separated option. A value with a space inside is refused rather than split:
 * `--scope 'orders:read orders:write'` is more likely a quoting slip than two scopes.
 */
export function collectList(what: string): (value: string, previous?: string[]) => string[] {
  return (value, previous = []) => {
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    const spaced = items.find((item) => /\s/.test(item));
    if (spaced !== undefined) {
      throw new CliError(
        `invalid ${what} ${JSON.stringify(spaced)}: a ${what} has no spaces; repeat --${what} or separate with commas`,
        2,
      );
    }
    return [...previous, ...items];
  };
}

/** The key service's input rules, as `checkUsage` hands them to its check. */
export type KeyRules = Pick<
  typeof import('@hmac-kit/keys'),
  'checkKeySettings' | 'checkPassword' | 'checkPrincipalName' | 'checkRevokeReason'
>;

/**
 * Runs the key service's own input rules (each throws a TypeError naming the broken one) before
 * any store is opened: a malformed name, scope, label, reason or password is a usage error (exit
 * 2, one line), and nothing is created or changed. The service checks the same rules again.
 *
 * @example
 * ```ts
 * await checkUsage((rules) => rules.checkPrincipalName(name));
 * const principal = await withKeys(program, io, (keys) => keys.createPrincipal({ name, ... }), { create: true });
 * ```
 */
export async function checkUsage(check: (rules: KeyRules) => void): Promise<void> {
  // Loaded when the command runs, not for --help (the store it opens next loads it anyway).
  const rules = await import('@hmac-kit/keys');
  try {
    check(rules);
  } catch (error) {
    if (error instanceof TypeError) throw new CliError(error.message, 2);
    throw error;
  }
}

export function durationOption(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value, what);
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
}

export function rateLimitOption(value: string | undefined): KeyRateLimit | undefined {
  if (value === undefined) return undefined;
  try {
    return parseRateLimit(value, '100/1m');
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
}

/** `--limit N`: a positive integer. */
function limitOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new CliError(`invalid limit ${JSON.stringify(value)}: use a positive integer`, 2);
  }
  return Number(value);
}

/**
 * Everything a listing has (pages of 1,000 read one after the other, each an index seek), or the
 * first `limit` rows from `after` on. Says on stderr how to continue when it stopped early.
 */
export async function readPages<T>(
  io: Io,
  what: string,
  readPage: (after: string | undefined, limit: number) => Promise<Page<T>>,
  options: { limit?: string; after?: string },
): Promise<T[]> {
  const limit = limitOption(options.limit);
  const items: T[] = [];
  let after = options.after;
  for (;;) {
    let page: Page<T>;
    try {
      page = await readPage(after, Math.min(1000, limit === undefined ? 1000 : limit - items.length));
    } catch (error) {
      // A malformed --after is the user's to fix, not a crash.
      if (error instanceof TypeError) throw new CliError(error.message, 2);
      throw error;
    }
    items.push(...page.items);
    if (page.next === null) return items;
    if (limit !== undefined && items.length >= limit) {
      io.stderr(`hmac-kit: more ${what}: continue with --after ${page.next}\n`);
      return items;
    }
    after = page.next;
  }
}
