/**
 * Incremental SHA-256, SHA-384 and SHA-512 (FIPS 180-4) in plain TypeScript.
 *
 * WebCrypto only hashes whole buffers, and a verifier must hash request bodies as
 * they stream without holding them in memory, so the default provider needs a
 * hash it can feed chunk by chunk. Also provides a synchronous incremental HMAC
 * (RFC 2104) on top, for schemes that MAC the body itself.
 */
import type { HashAlgorithm, IncrementalHash } from '../types.js';

// The round constants and initial values are defined (FIPS 180-4 sections 4.2.2,
// 4.2.3, 5.3) as fractional parts of square and cube roots of the first primes.
// Deriving them here with exact integer arithmetic replaces a 200-entry literal
// table in which a single mistyped digit would be invisible in review.
function firstPrimes(count: number): number[] {
  const primes: number[] = [];
  for (let candidate = 2; primes.length < count; candidate++) {
    if (primes.every((p) => candidate % p !== 0)) primes.push(candidate);
  }
  return primes;
}

function integerRoot(value: bigint, degree: 2n | 3n): bigint {
  // Newton's method from above converges monotonically to floor(value^(1/degree)).
  let x = 1n << BigInt(Math.ceil(value.toString(2).length / Number(degree)) + 1);
  for (;;) {
    const next = ((degree - 1n) * x + value / x ** (degree - 1n)) / degree;
    if (next >= x) return x;
    x = next;
  }
}

/** First 64 fractional bits of the root of `prime`, as [high 32 bits, low 32 bits]. */
function rootFraction(prime: number, degree: 2n | 3n): [number, number] {
  const scaled = integerRoot(BigInt(prime) << (64n * degree), degree);
  const fraction = scaled & ((1n << 64n) - 1n);
  return [Number(fraction >> 32n) | 0, Number(fraction & 0xffffffffn) | 0];
}

const PRIMES = firstPrimes(80);
/** SHA-512 round constants as interleaved [hi, lo] pairs; SHA-256 uses the first 64 high halves. */
const K512 = new Int32Array(PRIMES.flatMap((p) => rootFraction(p, 3n)));
const K256 = new Int32Array(64).map((_, i) => K512[i * 2]!);
const IV512 = PRIMES.slice(0, 8).flatMap((p) => rootFraction(p, 2n));
const IV384 = PRIMES.slice(8, 16).flatMap((p) => rootFraction(p, 2n));
const IV256 = IV512.filter((_, i) => i % 2 === 0);

/** Output lengths in bytes. */
export const DIGEST_LENGTH: Readonly<Record<HashAlgorithm, number>> = Object.freeze({
  sha256: 32,
  sha384: 48,
  sha512: 64,
});

/** Block lengths in bytes (HMAC pads keys to these). */
export const BLOCK_LENGTH: Readonly<Record<HashAlgorithm, number>> = Object.freeze({
  sha256: 64,
  sha384: 128,
  sha512: 128,
});

abstract class Sha2 implements IncrementalHash {
  protected readonly block: Uint8Array;
  protected readonly view: DataView;
  private buffered = 0;
  private totalBytes = 0;
  private finished = false;

  constructor(
    private readonly blockLength: number,
    private readonly lengthFieldBytes: number,
    private readonly outputLength: number,
  ) {
    this.block = new Uint8Array(blockLength);
    this.view = new DataView(this.block.buffer);
  }

  protected abstract compress(view: DataView, offset: number): void;
  protected abstract writeState(out: DataView): void;

  update(chunk: Uint8Array): void {
    if (this.finished) throw new TypeError('hash already finalised');
    let position = 0;
    const length = chunk.length;
    this.totalBytes += length;
    if (this.buffered > 0) {
      const take = Math.min(this.blockLength - this.buffered, length);
      this.block.set(chunk.subarray(0, take), this.buffered);
      this.buffered += take;
      position = take;
      if (this.buffered < this.blockLength) return;
      this.compress(this.view, 0);
      this.buffered = 0;
    }
    if (length - position >= this.blockLength) {
      // Whole blocks are read straight from the caller's chunk, without copying.
      const chunkView = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (; length - position >= this.blockLength; position += this.blockLength) this.compress(chunkView, position);
    }
    if (position < length) {
      this.block.set(chunk.subarray(position), 0);
      this.buffered = length - position;
    }
  }

  digest(): Uint8Array {
    if (this.finished) throw new TypeError('hash already finalised');
    this.finished = true;
    const { block, view, blockLength } = this;
    block[this.buffered++] = 0x80;
    if (this.buffered > blockLength - this.lengthFieldBytes) {
      block.fill(0, this.buffered);
      this.compress(view, 0);
      this.buffered = 0;
    }
    block.fill(0, this.buffered);
    // Message length in bits, big-endian, in the last 8 bytes (the upper bytes of
    // SHA-512's 16-byte field stay zero: no body reaches 2^53 bytes).
    view.setUint32(blockLength - 8, Math.floor(this.totalBytes / 0x20000000), false);
    view.setUint32(blockLength - 4, (this.totalBytes % 0x20000000) * 8, false);
    this.compress(view, 0);
    const full = new Uint8Array(this.lengthFieldBytes === 8 ? 32 : 64);
    this.writeState(new DataView(full.buffer));
    return full.slice(0, this.outputLength);
  }
}

class Sha256 extends Sha2 {
  private readonly state = Int32Array.from(IV256);
  private readonly w = new Int32Array(64);

  constructor() {
    super(64, 8, 32);
  }

  protected compress(view: DataView, offset: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) w[t] = view.getInt32(offset + t * 4, false);
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!;
      const y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (s1 + w[t - 7]! + s0 + w[t - 16]!) | 0;
    }
    const s = this.state;
    let a = s[0]!;
    let b = s[1]!;
    let c = s[2]!;
    let d = s[3]!;
    let e = s[4]!;
    let f = s[5]!;
    let g = s[6]!;
    let h = s[7]!;
    for (let t = 0; t < 64; t++) {
      const sigma1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const choose = (e & f) ^ (~e & g);
      const t1 = (h + sigma1 + choose + K256[t]! + w[t]!) | 0;
      const sigma0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (sigma0 + majority) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] = (s[0]! + a) | 0;
    s[1] = (s[1]! + b) | 0;
    s[2] = (s[2]! + c) | 0;
    s[3] = (s[3]! + d) | 0;
    s[4] = (s[4]! + e) | 0;
    s[5] = (s[5]! + f) | 0;
    s[6] = (s[6]! + g) | 0;
    s[7] = (s[7]! + h) | 0;
  }

  protected writeState(out: DataView): void {
    for (let i = 0; i < 8; i++) out.setInt32(i * 4, this.state[i]!, false);
  }
}

// 64-bit words are kept as (high, low) pairs of 32-bit integers: BigInt would be
// far slower, and JavaScript numbers cannot hold 64 bits exactly. The rotations are
// written out per shift amount (rotr n of (h, l): n < 32 -> h>>>n | l<<(32-n) for the
// high half; n >= 32 swaps the halves first) because this loop is the hot path.
const TWO_32 = 0x100000000;

class Sha512 extends Sha2 {
  private readonly state: Int32Array;
  private readonly w = new Int32Array(160);

  constructor(algorithm: 'sha384' | 'sha512') {
    super(128, 16, algorithm === 'sha384' ? 48 : 64);
    this.state = Int32Array.from(algorithm === 'sha384' ? IV384 : IV512);
  }

  protected compress(view: DataView, offset: number): void {
    const w = this.w;
    for (let i = 0; i < 32; i++) w[i] = view.getInt32(offset + i * 4, false);
    for (let t = 32; t < 160; t += 2) {
      const xh = w[t - 30]!;
      const xl = w[t - 29]!;
      // sigma0 = rotr1 ^ rotr8 ^ shr7
      const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
      const s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
      const yh = w[t - 4]!;
      const yl = w[t - 3]!;
      // sigma1 = rotr19 ^ rotr61 ^ shr6
      const s1h = ((yh >>> 19) | (yl << 13)) ^ ((yl >>> 29) | (yh << 3)) ^ (yh >>> 6);
      const s1l = ((yl >>> 19) | (yh << 13)) ^ ((yh >>> 29) | (yl << 3)) ^ ((yl >>> 6) | (yh << 26));
      const low = (s1l >>> 0) + (w[t - 13]! >>> 0) + (s0l >>> 0) + (w[t - 31]! >>> 0);
      w[t] = (s1h + w[t - 14]! + s0h + w[t - 32]! + ((low / TWO_32) | 0)) | 0;
      w[t + 1] = low | 0;
    }
    const s = this.state;
    let ah = s[0]!;
    let al = s[1]!;
    let bh = s[2]!;
    let bl = s[3]!;
    let ch = s[4]!;
    let cl = s[5]!;
    let dh = s[6]!;
    let dl = s[7]!;
    let eh = s[8]!;
    let el = s[9]!;
    let fh = s[10]!;
    let fl = s[11]!;
    let gh = s[12]!;
    let gl = s[13]!;
    let hh = s[14]!;
    let hl = s[15]!;
    for (let t = 0; t < 160; t += 2) {
      // Sigma1(e) = rotr14 ^ rotr18 ^ rotr41
      const sigma1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
      const sigma1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
      const chooseH = (eh & fh) ^ (~eh & gh);
      const chooseL = (el & fl) ^ (~el & gl);
      const t1Low = (hl >>> 0) + (sigma1l >>> 0) + (chooseL >>> 0) + (K512[t + 1]! >>> 0) + (w[t + 1]! >>> 0);
      const t1h = (hh + sigma1h + chooseH + K512[t]! + w[t]! + ((t1Low / TWO_32) | 0)) | 0;
      const t1l = t1Low | 0;
      // Sigma0(a) = rotr28 ^ rotr34 ^ rotr39
      const sigma0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
      const sigma0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
      const majorityH = (ah & bh) ^ (ah & ch) ^ (bh & ch);
      const majorityL = (al & bl) ^ (al & cl) ^ (bl & cl);
      const t2Low = (sigma0l >>> 0) + (majorityL >>> 0);
      const t2h = (sigma0h + majorityH + ((t2Low / TWO_32) | 0)) | 0;
      const t2l = t2Low | 0;
      hh = gh;
      hl = gl;
      gh = fh;
      gl = fl;
      fh = eh;
      fl = el;
      const eLow = (dl >>> 0) + (t1l >>> 0);
      eh = (dh + t1h + ((eLow / TWO_32) | 0)) | 0;
      el = eLow | 0;
      dh = ch;
      dl = cl;
      ch = bh;
      cl = bl;
      bh = ah;
      bl = al;
      const aLow = (t1l >>> 0) + (t2l >>> 0);
      ah = (t1h + t2h + ((aLow / TWO_32) | 0)) | 0;
      al = aLow | 0;
    }
    add64(s, 0, ah, al);
    add64(s, 2, bh, bl);
    add64(s, 4, ch, cl);
    add64(s, 6, dh, dl);
    add64(s, 8, eh, el);
    add64(s, 10, fh, fl);
    add64(s, 12, gh, gl);
    add64(s, 14, hh, hl);
  }

  protected writeState(out: DataView): void {
    for (let i = 0; i < 16; i++) out.setInt32(i * 4, this.state[i]!, false);
  }
}

function add64(state: Int32Array, index: number, high: number, low: number): void {
  const sum = (state[index + 1]! >>> 0) + (low >>> 0);
  state[index] = (state[index]! + high + ((sum / TWO_32) | 0)) | 0;
  state[index + 1] = sum | 0;
}

function assertAlgorithm(algorithm: unknown): asserts algorithm is HashAlgorithm {
  if (algorithm !== 'sha256' && algorithm !== 'sha384' && algorithm !== 'sha512') {
    throw new TypeError(`unsupported hash algorithm ${JSON.stringify(algorithm)}; use sha256, sha384 or sha512`);
  }
}

/**
 * Starts an incremental SHA-2 hash.
 *
 * @example
 * ```ts
 * const hash = createSha2('sha256');
 * for await (const chunk of body) hash.update(chunk);
 * const digest = hash.digest(); // 32 bytes
 * ```
 */
export function createSha2(algorithm: HashAlgorithm): IncrementalHash {
  assertAlgorithm(algorithm);
  return algorithm === 'sha256' ? new Sha256() : new Sha512(algorithm);
}

/**
 * One-shot SHA-2 of `data`.
 *
 * @example
 * ```ts
 * toHex(sha2('sha256', utf8('abc'))); // 'ba7816bf...'
 * ```
 */
export function sha2(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array {
  const hash = createSha2(algorithm);
  hash.update(data);
  return hash.digest();
}

/**
 * Starts an incremental HMAC (RFC 2104) over the pure-TS SHA-2, for bodies that are
 * MACed as they stream.
 *
 * @example
 * ```ts
 * const mac = createSha2Hmac('sha256', secret);
 * mac.update(utf8('part 1'));
 * mac.update(utf8('part 2'));
 * const tag = mac.digest();
 * ```
 */
export function createSha2Hmac(algorithm: HashAlgorithm, key: Uint8Array): IncrementalHash {
  assertAlgorithm(algorithm);
  const blockLength = BLOCK_LENGTH[algorithm];
  const padded = new Uint8Array(blockLength);
  padded.set(key.length > blockLength ? sha2(algorithm, key) : key);
  const innerPad = padded.map((byte) => byte ^ 0x36);
  const outerPad = padded.map((byte) => byte ^ 0x5c);
  padded.fill(0);
  const inner = createSha2(algorithm);
  inner.update(innerPad);
  innerPad.fill(0);
  return {
    update(chunk: Uint8Array): void {
      inner.update(chunk);
    },
    digest(): Uint8Array {
      const outer = createSha2(algorithm);
      outer.update(outerPad);
      outerPad.fill(0);
      outer.update(inner.digest());
      return outer.digest();
    },
  };
}

/**
 * One-shot HMAC over the pure-TS SHA-2 (used where WebCrypto is unavailable).
 *
 * @example
 * ```ts
 * const tag = sha2Hmac('sha256', secret, utf8(signatureBase));
 * ```
 */
export function sha2Hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  const mac = createSha2Hmac(algorithm, key);
  mac.update(data);
  return mac.digest();
}
