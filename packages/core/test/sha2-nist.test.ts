// NIST CAVP SHA-2 byte-oriented test vectors (FIPS 180-4), vendored in test-support/vectors/nist-sha2:
// every ShortMsg record, a spread of LongMsg records (up to 12.8 KB messages) and the Monte Carlo chains,
// against the pure-TS SHA-2 that runs where neither node:crypto nor WebCrypto's sync path exists.
import { describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { fromHex, toHex } from '../src/primitives/encoding.js';
import { createSha2, sha2 } from '../src/primitives/sha2.js';
import type { HashAlgorithm } from '../src/types.js';

interface MessageRecord {
  bits: number;
  message: Uint8Array;
  digest: string;
}

/** Reads the `Len` / `Msg` / `MD` records of a CAVS .rsp file (comments and `[L = n]` skipped). */
function messageRecords(name: string): MessageRecord[] {
  const fields = [...readPublishedVector(`nist-sha2/${name}`).matchAll(/^(Len|Msg|MD) = ([0-9a-f]*)\s*$/gm)];
  const records: MessageRecord[] = [];
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const [len, msg, md] = [fields[i]!, fields[i + 1]!, fields[i + 2]!];
    expect([len[1], msg[1], md[1]]).toEqual(['Len', 'Msg', 'MD']);
    const bits = Number(len[2]);
    // CAVS writes the empty message as "Msg = 00" with Len = 0.
    const message = bits === 0 ? new Uint8Array(0) : fromHex(msg[2]!)!;
    expect(message.length * 8).toBe(bits);
    records.push({ bits, message, digest: md[2]! });
  }
  return records;
}

/** Feeds `message` to an incremental hash in uneven chunks that straddle block boundaries. */
function chunkedDigest(algorithm: HashAlgorithm, message: Uint8Array): string {
  const hash = createSha2(algorithm);
  const sizes = [1, 63, 64, 65, 127, 128, 129, 7];
  let offset = 0;
  for (let i = 0; offset < message.length; i++) {
    const size = sizes[i % sizes.length]!;
    hash.update(message.subarray(offset, offset + size));
    offset += size;
  }
  return toHex(hash.digest());
}

/**
 * Each checkpoint chains on the previous one, so the first N are as strict as all 100; all 100 cost
 * 300 000 pure-TS hashes (about 10 s of one core), 10 cost a tenth of that.
 */
const MONTE_CHECKPOINTS = 10;

const SUITES: [HashAlgorithm, string][] = [
  ['sha256', 'SHA256'],
  ['sha384', 'SHA384'],
  ['sha512', 'SHA512'],
];

describe.each(SUITES)('NIST CAVP %s', (algorithm, prefix) => {
  const short = messageRecords(`${prefix}ShortMsg.rsp`);
  const long = messageRecords(`${prefix}LongMsg.subset.rsp`);

  it('ShortMsg: every record, one-shot and in chunks', () => {
    // One record per byte length from 0 to one block (64 or 128 bytes).
    expect(short.length).toBe(algorithm === 'sha256' ? 65 : 129);
    for (const { bits, message, digest } of short) {
      expect(toHex(sha2(algorithm, message)), `Len = ${bits}`).toBe(digest);
      expect(chunkedDigest(algorithm, message), `Len = ${bits} (chunked)`).toBe(digest);
    }
  });

  it('LongMsg: the vendored records, one-shot and in chunks', () => {
    expect(long.length).toBe(9);
    for (const { bits, message, digest } of long) {
      expect(toHex(sha2(algorithm, message)), `Len = ${bits}`).toBe(digest);
      expect(chunkedDigest(algorithm, message), `Len = ${bits} (chunked)`).toBe(digest);
    }
  });

  it(`Monte Carlo: the first ${MONTE_CHECKPOINTS} checkpoints of 1000 chained hashes each (SHAVS 6.4)`, () => {
    const text = readPublishedVector(`nist-sha2/${prefix}Monte.rsp`);
    let seed = fromHex(/^Seed = ([0-9a-f]+)\s*$/m.exec(text)![1]!)!;
    const expected = [...text.matchAll(/^MD = ([0-9a-f]+)\s*$/gm)].map((m) => m[1]!);
    expect(expected).toHaveLength(100);
    const size = seed.length;
    for (const checkpoint of expected.slice(0, MONTE_CHECKPOINTS)) {
      // MD0 = MD1 = MD2 = Seed; M_i = MD_{i-3} || MD_{i-2} || MD_{i-1}; MD_i = SHA(M_i), i = 3..1002.
      const window = new Uint8Array(size * 3);
      window.set(seed, 0);
      window.set(seed, size);
      window.set(seed, size * 2);
      let digest = seed;
      for (let i = 3; i < 1003; i++) {
        digest = sha2(algorithm, window);
        window.copyWithin(0, size);
        window.set(digest, size * 2);
      }
      expect(toHex(digest)).toBe(checkpoint);
      seed = digest;
    }
  });
});
