/**
 * The RFC 9421 common-shape parser remembers parameter tails (the text from the first parameter that
 * is not created, expires or nonce to the end of Signature-Input, in practice `;keyid="...";alg="..."`)
 * with what they set, and takes a remembered tail without scanning it again. The attack this guards
 * against: a tail remembered from one request changing how another is read, above all a parameter
 * repeated across the remembered tail and the text before it (the general parser keeps the last
 * value; the fast path must decline), or a tail one character away from a remembered one.
 *
 * Every input is read twice in a row (the second read takes the tail the first remembered) and in
 * sequences that share tails, and each reading is held to the general RFC 8941 parser's (forced by a
 * leading space, as in review11-fast-path-parse.test.ts): same credentials, and the fast path's
 * `@signature-params` text is the canonical serialisation of the general reading.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { turnEventLoop } from '../../../test-support/wait.js';
import { resolveRfc9421Options } from '../src/schemes/rfc9421/options.js';
import { createRfc9421Parser } from '../src/schemes/rfc9421/parse.js';
import { expectSameReading as expectSame } from './support/fast-path-reading.js';

const parser = createRfc9421Parser(resolveRfc9421Options({}));

let fastReads = 0;

/** The fast path's reading of `input` equals the general path's (support/fast-path-reading.ts). */
function expectSameReading(input: string): void {
  if (expectSame(parser, input)) fastReads++;
}

const LIST = '("@method" "@authority" "content-digest")';

// Parameters before the tail (names starting with c, e or n do not start a tail) and tails, from
// small pools so that tails repeat across a sequence, with repeats of every parameter a tail sets.
const BEFORE = [
  ';created=1700000000',
  ';created=1700000001',
  ';nonce="n1"',
  ';nonce="n2"',
  ';expires=1700000300',
  ';cx=1',
  ';n="v"',
  ';e=2',
  ';created=01',
  ';nonce=1',
];
const TAIL_PARTS = [
  ';keyid="k1"',
  ';keyid="k2"',
  ';alg="hmac-sha256"',
  ';alg="hmac-sha512"',
  ';alg="rsa-pss-sha512"',
  ';tag="t"',
  ';x=1',
  ';x="y"',
  ';cx=1',
  ';created=1700000000',
  ';nonce="n1"',
  ';keyid=1',
  ';keyid="k\\"1"',
  ';alg="hmac-sha256" ',
  ';keyid="k1";',
  ';a-b=?1',
  ';keyid="k1',
];

const GOOD_TAIL_PARTS = TAIL_PARTS.slice(0, 7);

const sample = fc.record({
  // Mostly with created first (the fast path needs it), so that most samples are read fast.
  before: fc
    .tuple(fc.boolean(), fc.boolean(), fc.array(fc.constantFrom(...BEFORE), { maxLength: 2 }))
    .map(([created, first, rest]) => (created || first ? [';created=1700000000', ...rest] : rest)),
  tail: fc.array(
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...GOOD_TAIL_PARTS) }, fc.constantFrom(...TAIL_PARTS)),
    { minLength: 1, maxLength: 4 },
  ),
});

const inputOf = (r: { before: string[]; tail: string[] }) => `sig=${LIST}${r.before.join('')}${r.tail.join('')}`;

describe('remembered RFC 9421 parameter tails', () => {
  it('an input read twice in a row, and sequences sharing tails, read as the general parser reads them', async () => {
    fastReads = 0;
    let runs = 0;
    await fc.assert(
      // Async only to let the event loop turn every 100 runs (test-support/wait.ts turnEventLoop).
      fc.asyncProperty(fc.array(sample, { minLength: 1, maxLength: 6 }), async (samples) => {
        if (++runs % 100 === 0) await turnEventLoop();
        for (const r of samples) {
          const input = inputOf(r);
          expectSameReading(input);
          expectSameReading(input);
        }
        // The same tails after other text before them (repeats across the boundary included).
        for (const r of samples) expectSameReading(inputOf({ before: [...r.before].reverse(), tail: r.tail }));
        for (const r of samples)
          for (const other of samples) expectSameReading(inputOf({ before: r.before, tail: other.tail }));
      }),
      { numRuns: 2000 },
    );
    expect(fastReads).toBeGreaterThan(1500);
  });

  it('a parameter repeated across a remembered tail and the text before it is declined', () => {
    // Only names starting with c, e or n can stand before a tail; a tail that sets created, expires
    // or nonce is never remembered, so an unknown c/e/n name is what can repeat across the boundary.
    for (const tail of [';keyid="k1";cx=2', ';keyid="k1";alg="hmac-sha256";nx="v";e=1', ';tag="t";cx=1;keyid="k1"']) {
      // Remembered after a clean prefix, then taken after prefixes that repeat one of its names.
      expectSameReading(`sig=${LIST};created=1700000000${tail}`);
      for (const before of [';created=1700000000;cx=1', ';nx=2;created=1700000000', ';e=1;created=1700000000']) {
        expectSameReading(`sig=${LIST}${before}${tail}`);
        expectSameReading(`sig=${LIST};created=1700000000${tail}`);
      }
    }
    // Repeats inside the tail's own text: never remembered.
    for (const input of [
      `sig=${LIST};created=1700000000;keyid="k1";keyid="k1"`,
      `sig=${LIST};created=1700000000;x=1;keyid="k1";alg="hmac-sha256";x=1`,
    ]) {
      expectSameReading(input);
      expectSameReading(input);
    }
  });

  it('a tail one character away from the remembered one is read afresh', () => {
    const remembered = ';keyid="hk_1";alg="hmac-sha256"';
    const variants = [
      ';keyid="hk_2";alg="hmac-sha256"',
      ';keyid="hk_1";alg="hmac-sha512"',
      ';keyid="hk_1";alg="hmac-sha256";',
      ';keyid="hk_1";alg="hmac-sha256" ',
      ';keyid="hk_1";alg="hmac-sha256"x',
      ';keyid="hk_1";alg="hmac-sha25"',
      ';keyid="hk_1" ;alg="hmac-sha256"',
      ';keyid="hk_1";alg="hmac-sha256";keyid="hk_1"',
      ';keyid="hk_1";alg="hmac-sha256";created=1700000000',
      ';keyid="hk_\\1";alg="hmac-sha256"',
      ';keyid=hk_1;alg="hmac-sha256"',
      ';Keyid="hk_1";alg="hmac-sha256"',
    ];
    for (const variant of variants) {
      for (const before of [';created=1700000000', ';created=1700000000;nonce="n"', ';nonce="n";created=1']) {
        expectSameReading(`sig=${LIST}${before}${remembered}`);
        expectSameReading(`sig=${LIST}${before}${variant}`);
        expectSameReading(`sig=${LIST}${before}${remembered}`);
      }
    }
  });
});
