/** Option checks shared by the factories: misuse throws `TypeError` at construction (or call) time. */

export function requirePositiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a finite number greater than 0`);
  }
  return value;
}

export function requirePositiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${name} must be an integer greater than 0`);
  }
  return value;
}

export function requireNonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} must be an integer of at least 0`);
  }
  return value;
}

export function requireNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite number`);
  return value;
}

export function requireString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  return value;
}

export function requireNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

export function requireClock(name: string, value: unknown): () => number {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function returning milliseconds`);
  return value as () => number;
}

/** Seconds (possibly fractional) to whole microseconds, the unit every algorithm here counts in. */
export function secondsToMicros(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1_000_000));
}
