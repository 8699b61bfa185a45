/**
 * `isWrittenAsPython` (../python-json-bytes.ts) in AssemblyScript, compiled to the WebAssembly module
 * embedded in ../python-form-wasm-module.ts (regenerate: `npm run build:wasm`). AssemblyScript, not
 * TypeScript: excluded from the packages' tsc builds; only the compiler reads it.
 *
 * It must answer exactly as the JS function does for every input
 * (packages/core/test/django-python-form-wasm.test.ts holds it to the JS by fast-check). The body is
 * copied by the caller to `inputOffset()`; `check(length)` answers 1 (written as Python writes it)
 * or 0. It is the JS function's loop with the same tests in the same order; what differs, none of
 * it visible in the answer:
 * - the byte at `length` is set to 0 by each call: every read the JS makes at index `length`
 *   (where a Uint8Array gives `undefined`) reads that 0, which equals no byte the check looks for
 *   and is not plain, so the loops need no bounds test where the JS has one that only stops them at
 *   `length`. The 16-byte string scan (wasm SIMD) reads up to 15 bytes past it (zeroed too), and
 *   never looks past the first byte that is not plain.
 * - nameEnd and stringEnd are inlined into the one loop (a name is read at the top of the turn
 *   after `{` or a comma in an object); the kinds of the open containers are bits of a local.
 * - `null`, `true` and `false` are compared as one 32-bit load (after the same length test).
 * - the scratch arrays (first name per open container, name starts and ends) live in this
 *   module's static memory; like the JS arrays, every slot is written before it is read within a
 *   call, and the compare budget is set by each call: nothing of one call is seen by the next.
 */

const QUOTE: u32 = 0x22;
const COMMA: u32 = 0x2c;
const MINUS: u32 = 0x2d;
const DOT: u32 = 0x2e;
const ZERO: u32 = 0x30;
const NINE: u32 = 0x39;
const COLON: u32 = 0x3a;
const UPPER_E: u32 = 0x45;
const OPEN_BRACKET: u32 = 0x5b;
const BACKSLASH: u32 = 0x5c;
const CLOSE_BRACKET: u32 = 0x5d;
const LOWER_B: u32 = 0x62;
const LOWER_E: u32 = 0x65;
const LOWER_F: u32 = 0x66;
const LOWER_N: u32 = 0x6e;
const LOWER_R: u32 = 0x72;
const LOWER_T: u32 = 0x74;
const LOWER_U: u32 = 0x75;
const OPEN_BRACE: u32 = 0x7b;
const CLOSE_BRACE: u32 = 0x7d;
const SPACE: u32 = 0x20;
const TILDE: u32 = 0x7e;

/** `null`, `true` and `alse` as little-endian 32-bit words. */
const NULL_WORD: u32 = 0x6c6c756e;
const TRUE_WORD: u32 = 0x65757274;
const ALSE_WORD: u32 = 0x65736c61;

/** MAX_INT_DIGITS of ../python-json.ts. */
const MAX_INT_DIGITS: i32 = 4300;
/** SHALLOW_DEPTH and FEW_NAMES of ../python-json-bytes.ts. */
const SHALLOW_DEPTH: i32 = 32;
const FEW_NAMES: i32 = 32;

/** Per open container, the index of its first name in NAMES (an i32 each), by depth 1..SHALLOW_DEPTH. */
const FIRST_NAME: usize = memory.data((SHALLOW_DEPTH + 1) * 4, 4);
/** Where each name read so far starts and ends in the input: two i32 per name. */
const NAMES: usize = memory.data((SHALLOW_DEPTH + 1) * FEW_NAMES * 8, 8);
/**
 * Where the caller puts the body: a constant, so that every read of it is one load with a constant
 * offset. The static data above (under 10 KiB from 1024 on) ends below it; {@link inputOffset}
 * answers 0, which the caller takes as "unusable", should it ever not.
 */
const INPUT: usize = 16384;

const QUOTES: v128 = i8x16.splat(0x22);
const BACKSLASHES: v128 = i8x16.splat(0x5c);
const SPACES: v128 = i8x16.splat(0x20);
/** 0x7e - 0x20: bytes above it once 0x20 is subtracted (wrapping) are below space or 0x7f and up. */
const PRINTABLE_SPAN: v128 = i8x16.splat(0x5e);

/** Bytes names of equal length may still be compared in this call (nameCompareBudget of the JS). */
let budget: i32 = 0;

/** The offset in memory where the caller copies the body before calling {@link check} (0: unusable). */
export function inputOffset(): usize {
  return __heap_base <= INPUT ? INPUT : 0;
}

function at(index: i32): u32 {
  return load<u8>(INPUT + (index as usize)) as u32;
}

/**
 * isWrittenAsPython of the `length` bytes at `inputOffset()`: 1 or 0. The caller leaves 16 bytes of
 * memory after the body, which this sets to 0.
 *
 * One loop, as the JS: each turn reads a name and its colon when `isName` (after `{` or a comma in
 * an object: the JS's nameEnd), then one value, then what closes or separates it. A string (name or
 * value) is scanned 16 bytes at a time for the first byte that is not plain (the JS's PLAIN table:
 * printable ASCII but `"` and `\`), which the 0 at `length` bounds.
 */
export function check(length: i32): i32 {
  if (length <= 5) return 0;
  // What the JS reads at index `length` (`undefined`): a byte no test below matches, and not plain.
  // The 15 after it are read by the 16-byte scans, never looked at past that 0 (zeroed all the same).
  v128.store(INPUT + (length as usize), i8x16.splat(0));
  budget = length;
  /** Bit `depth` set: the container open at that depth is an object (the JS's kinds[depth] === 1). */
  let objects: u64 = 0;
  let nameCount: i32 = 0;
  let depth: i32 = 0;
  let position: i32 = 0;
  /** At a name (and its colon) before the next value; `first` is its object's first name then. */
  let isName = false;
  let first: i32 = 0;
  while (true) {
    let byte = at(position);
    if (byte === QUOTE) {
      // The JS's stringEnd: `index` ends at the closing quote.
      let index = position + 1;
      while (true) {
        while (true) {
          const bytes = v128.load(INPUT + (index as usize));
          // Not plain: below space or 0x7f and up (one unsigned compare after subtracting 0x20), `"`, `\`.
          const stops = v128.or(
            v128.or(i8x16.eq(bytes, QUOTES), i8x16.eq(bytes, BACKSLASHES)),
            i8x16.gt_u(i8x16.sub(bytes, SPACES), PRINTABLE_SPAN),
          );
          const stopBits = i8x16.bitmask(stops);
          if (stopBits !== 0) {
            index += ctz(stopBits) as i32;
            break;
          }
          index += 16;
        }
        if (index >= length) return 0;
        const stop = at(index);
        if (stop === QUOTE) break;
        const run = stop === BACKSLASH ? canonicalEscapeLength(index, length) : 0;
        if (run === 0) return 0;
        index += run;
      }
      if (isName) {
        // The JS's nameEnd: a colon after it, and no earlier name of its object with the same bytes.
        if (at(index + 1) !== COLON) return 0;
        const start = position + 1;
        const nameLength = index - start;
        for (let i = first; i < nameCount; i++) {
          const slot = NAMES + ((i as usize) << 3);
          const other = load<i32>(slot);
          if (load<i32>(slot, 4) - other !== nameLength) continue;
          let j: i32 = 0;
          while (j < nameLength && at(other + j) === at(start + j)) j++;
          if (j === nameLength) return 0;
          budget -= j + 1;
          if (budget < 0) return 0;
        }
        const slot = NAMES + ((nameCount as usize) << 3);
        store<i32>(slot, start);
        store<i32>(slot, index, 4);
        nameCount++;
        isName = false;
        position = index + 2;
        continue;
      }
      position = index + 1;
    } else if (isName) {
      return 0;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (depth === SHALLOW_DEPTH) return 0;
      depth++;
      const isObject = byte === OPEN_BRACE;
      if (isObject) objects |= (1 as u64) << (depth as u64);
      else objects &= ~((1 as u64) << (depth as u64));
      store<i32>(FIRST_NAME + ((depth as usize) << 2), nameCount);
      position++;
      if (at(position) !== (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        if (isObject) {
          isName = true;
          first = nameCount;
        }
        continue;
      }
      // An empty object or array: closed below.
      depth--;
      position++;
    } else if (byte === LOWER_N || byte === LOWER_T || byte === LOWER_F) {
      const wordLength: i32 = byte === LOWER_F ? 5 : 4;
      if (position + wordLength > length) return 0;
      const word = byte === LOWER_N ? NULL_WORD : byte === LOWER_T ? TRUE_WORD : ALSE_WORD;
      const from = byte === LOWER_F ? position + 1 : position;
      if (load<u32>(INPUT + (from as usize)) !== word) return 0;
      position += wordLength;
    } else {
      // An integer, as Python writes it: -?(0|[1-9][0-9]*), not -0, not followed by a fraction or exponent.
      const start = position;
      if (byte === MINUS) byte = at(++position);
      if (byte === ZERO) {
        if (position !== start) return 0;
        position++;
      } else if (byte > ZERO && byte <= NINE) {
        position++;
        while (at(position) - ZERO < 10) position++;
        if (position - start > MAX_INT_DIGITS) return 0;
      } else {
        return 0;
      }
      const next = at(position);
      if (next === DOT || next === LOWER_E || next === UPPER_E) return 0;
    }
    // After a value: close containers, then a separator before the next value, or the end.
    while (true) {
      if (depth === 0) return position === length ? 1 : 0;
      byte = at(position++);
      if (byte === COMMA) break;
      const inObject = ((objects >> (depth as u64)) & 1) !== 0;
      if (byte !== (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return 0;
      nameCount = load<i32>(FIRST_NAME + ((depth as usize) << 2));
      depth--;
    }
    if (((objects >> (depth as u64)) & 1) !== 0) {
      first = load<i32>(FIRST_NAME + ((depth as usize) << 2));
      if (nameCount - first === FEW_NAMES) return 0;
      isName = true;
    }
  }
}

/** canonicalEscapeLength of the JS: 2 or 6 for an escape as `json.dumps` writes it, else 0. */
function canonicalEscapeLength(index: i32, length: i32): i32 {
  const escaped = at(index + 1);
  if (escaped === LOWER_U) {
    const unit = hex4(index + 2, length);
    if (unit < 0 || (unit >= (SPACE as i32) && unit <= (TILDE as i32))) return 0;
    // The code units with a short escape outside space..tilde: \b \t \n \f \r.
    if (unit === 8 || unit === 9 || unit === 10 || unit === 12 || unit === 13) return 0;
    for (let i = index + 2; i < index + 6; i++) {
      const digit = at(i);
      if (digit >= 0x41 && digit <= 0x46) return 0;
    }
    return 6;
  }
  return escaped === QUOTE ||
    escaped === BACKSLASH ||
    escaped === LOWER_B ||
    escaped === LOWER_F ||
    escaped === LOWER_N ||
    escaped === LOWER_R ||
    escaped === LOWER_T
    ? 2
    : 0;
}

/** hex4 of the JS: the code unit of the four hex digits at `index` (either case), or -1. */
function hex4(index: i32, length: i32): i32 {
  if (index + 4 > length) return -1;
  let unit: i32 = 0;
  for (let i = index; i < index + 4; i++) {
    const byte = at(i);
    let digit: i32;
    if (byte >= 0x30 && byte <= 0x39) digit = (byte - 0x30) as i32;
    else if (byte >= 0x61 && byte <= 0x66) digit = (byte - 0x57) as i32;
    else if (byte >= 0x41 && byte <= 0x46) digit = (byte - 0x37) as i32;
    else return -1;
    unit = (unit << 4) | digit;
  }
  return unit;
}
