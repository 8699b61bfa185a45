/**
 * A string equal to `text` (the same characters) that V8 holds as an internalized, flat string: the
 * name of a property V8 creates for it. For a string kept and handed out again and again (the key
 * id of a remembered Signature-Input tail): such a string compared with an equal string of another
 * origin (the key resolver's, the rate limiter's key, the throttle's pair) is compared inline, where
 * a slice of a header (V8 keeps slices of 13 characters or more as views of their parent) takes
 * the runtime's comparison each time (~400 instructions under callgrind, session 21). Costs one
 * object with one property: call it once per string kept, never per request.
 *
 * Invariant: `internalized(text) === text` for every string (a property key is the string itself;
 * an array-index key comes back from `Object.keys` as its canonical text, which is `text`). Held by
 * packages/core/test/intern.test.ts over arbitrary strings.
 */
export function internalized(text: string): string {
  const keys = Object.keys({ [text]: 0 });
  return keys.length === 1 && keys[0] === text ? keys[0] : text;
}
