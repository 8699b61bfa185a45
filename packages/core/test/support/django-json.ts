import { expect } from 'vitest';
import { djangoJsonSerialization, djangoSignedBody } from '../../src/schemes/django-hmac/body.js';
import { isWrittenAsPythonWasm } from '../../src/schemes/django-hmac/python-form-wasm.js';
import { treeJsonSerialization } from '../../src/schemes/django-hmac/python-json.js';
import {
  isWrittenAsPython,
  onePassJsonOfBytes,
  pythonJsonOfBytes,
} from '../../src/schemes/django-hmac/python-json-bytes.js';

/** What a serialiser answered: its text (or the falsy `null`), or the error it threw. */
type Outcome = { text: string | null } | { error: string; message: string };

function outcome(serialize: () => string | null): Outcome {
  try {
    return { text: serialize() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Asserts that django-hmac's one-pass serialisation answers `body` exactly as the general path (tree +
 * dump) does: the same text, the same falsy `null`, or the same error, with and without refusing
 * repeated member names; and that the byte pass, on the body's UTF-8 bytes, answers the same or
 * leaves the decision to the general path.
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
  if (!/\p{Cs}/u.test(body)) expectSameBytes(new TextEncoder().encode(body));
}

/**
 * Asserts the invariant of `pythonJsonOfBytes` for any bytes: when it decides (bytes or `null`),
 * the reference (strict UTF-8 decoding, tree, dump) gives the same without an error; and the
 * verifier's `djangoSignedBody` answers as the reference with repeated names refused, forwarding
 * exactly the bytes it hashed. Where the shortcut `isWrittenAsPython` answers, the one-pass writer
 * returns the input itself; its WebAssembly build answers as it does.
 *
 * @example
 * expectSameBytes(new Uint8Array([0x7b, 0x7d])); // {}
 */
export function expectSameBytes(bytes: Uint8Array): void {
  const label = JSON.stringify(Array.from(bytes.slice(0, 200)));
  const lenient = () => treeJsonSerialization(strictUtf8.decode(bytes));
  const fast = pythonJsonOfBytes(bytes);
  // The shortcut for a body already in Python's form answers only where the writer returns the input itself.
  if (isWrittenAsPython(bytes)) expect(onePassJsonOfBytes(bytes), label).toBe(bytes);
  // pythonJsonOfBytes asks the WebAssembly module first: it answers as the JS function (or not at all).
  expect(isWrittenAsPythonWasm(bytes) ?? isWrittenAsPython(bytes), label).toBe(isWrittenAsPython(bytes));
  if (fast !== undefined) {
    expect(
      outcome(() => (fast === null ? null : strictUtf8.decode(fast))),
      label,
    ).toEqual(outcome(lenient));
  }
  const reference = outcome(() => treeJsonSerialization(strictUtf8.decode(bytes), { refuseRepeatedNames: true }));
  const verifier = outcome(() => {
    const { serialized, forward } = djangoSignedBody(bytes, 'application/json');
    expect(strictUtf8.decode(forward)).toBe(serialized ?? '');
    return serialized;
  });
  expect(verifier, label).toEqual(bytes.length === 0 ? { text: null } : reference);
}
