/**
 * Review of session 21 (helper "review21"): `--upstream-client auto` runs the builtin client on
 * node's internal parser whenever its start-up self-test passes. The client's defences against a
 * desync with its upstream (one client's answer read as another's) rest on llhttp being strict on
 * framing: Content-Length with Transfer-Encoding, duplicate or malformed lengths, obs-fold and
 * odd header syntax, bare LF or CR, malformed chunk sizes, unknown versions, bytes after a close.
 * The self-test checked the callbacks' shape but not that strictness: a Node whose parser ran with
 * any one of llhttp's lenient flags (a build, or a future default, that relaxes one) passed it, and
 * `auto` would silently pick a client that reads a CL+TE answer as undici refuses it.
 * Simulated here by wrapping this Node's parser so that `initialize` forces one lenient flag.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { chooseUpstreamClient } from '../src/upstream/choose.js';
import { type NodeHttpParserClass, selfTestHttpParser } from '../src/upstream/http-parser.js';

const Real = createRequire(import.meta.url)('_http_common').HTTPParser as NodeHttpParserClass & Record<string, number>;

/** This Node's parser, but every parser it makes is initialised with `flags` whatever the caller asked. */
function lenient(flags: number): NodeHttpParserClass {
  class Lenient extends (Real as unknown as new () => { initialize(...args: unknown[]): void }) {
    override initialize(type: unknown, resource: unknown, maxHeaderSize: unknown, lenientFlags: unknown) {
      super.initialize(type, resource, maxHeaderSize, (Number(lenientFlags) | flags) >>> 0);
    }
  }
  for (const key of Object.keys(Real))
    (Lenient as unknown as Record<string, unknown>)[key] = (Real as unknown as Record<string, unknown>)[key];
  return Lenient as unknown as NodeHttpParserClass;
}

// Every lenient flag this Node's parser knows (kLenientHeaders, kLenientChunkedLength, ...) but
// kLenientTransferEncoding, which llhttp applies to requests only (tested below: a response is
// read the same with it).
const FLAGS = Object.keys(Real)
  .filter(
    (key) =>
      key.startsWith('kLenient') &&
      key !== 'kLenientNone' &&
      key !== 'kLenientAll' &&
      key !== 'kLenientTransferEncoding',
  )
  .map((key) => [key, Real[key] as number] as const)
  .filter(([, value]) => typeof value === 'number' && value > 0);

describe('review21: the parser self-test checks llhttp strictness, not only its callbacks', () => {
  it('this Node knows lenient flags to test with', () => {
    expect(FLAGS.length).toBeGreaterThan(0);
    expect(selfTestHttpParser(Real)).toBe('');
  });

  it.each(FLAGS)('a parser initialised with %s fails the self-test: auto picks undici', (_name, flag) => {
    const Parser = lenient(flag);
    expect(selfTestHttpParser(Parser)).not.toBe('');
    const choice = chooseUpstreamClient('auto', 'http://127.0.0.1:3000', { traced: false, parserCandidate: Parser });
    expect(choice).toMatchObject({ client: 'undici', because: 'parser' });
  });

  it('kLenientTransferEncoding changes nothing on a response: the self-test passes with it', () => {
    const flag = Real.kLenientTransferEncoding;
    if (typeof flag !== 'number') return;
    expect(selfTestHttpParser(lenient(flag))).toBe('');
  });
});
