/**
 * Telling a value from a promise of one. Key resolvers, stores and crypto providers may answer
 * synchronously or not; the hot paths stay synchronous when they can, so they ask this instead of
 * awaiting every answer.
 */

/**
 * Whether `value` is a promise (any thenable) rather than the value itself.
 *
 * @example
 * ```ts
 * const key = resolver(keyId);
 * return isPromiseLike(key) ? key.then(check) : check(key);
 * ```
 */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
