import { expect } from 'vitest';
import { djangoJsonSerialization, treeJsonSerialization } from '../../src/schemes/django-hmac-json.js';

/** What a serialiser answered: its text (or the falsy `null`), or the error it threw. */
type Outcome = { text: string | null } | { error: string; message: string };

function outcome(serialize: () => string | null): Outcome {
  try {
    return { text: serialize() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

/**
 * Asserts that django-hmac's one-pass serialisation answers `body` exactly as the general path (tree +
 * dump) does: the same text, the same falsy `null`, or the same error, with and without refusing
 * repeated member names.
 *
 * @example
 * expectSameSerialization('{"a": 1, "b": [true, null]}');
 */
export function expectSameSerialization(body: string): void {
  for (const refuseRepeatedNames of [false, true]) {
    expect(
      outcome(() => djangoJsonSerialization(body, { refuseRepeatedNames })),
      JSON.stringify(body),
    ).toEqual(outcome(() => treeJsonSerialization(body, { refuseRepeatedNames })));
  }
}
