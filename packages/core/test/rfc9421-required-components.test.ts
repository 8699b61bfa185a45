/**
 * checkRfc9421Policy keeps the parsed entries of the last frozen `requiredComponents` list (the
 * policy defaults are frozen) and reads them by index, instead of a for...of and a map lookup per
 * entry and request. The invariant: it answers exactly as reading every list entry by entry does
 * (requiredComponent() per spec, in order, stopping at the first refusal), for frozen lists, for
 * lists that are not frozen and change in place between checks, and for lists alternating.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ComponentNotCovered, DigestMissing } from '../src/errors.js';
import type { VerifyContext } from '../src/pipeline/contract.js';
import { ComponentError, componentIdentifier, componentLabel, parseComponentSpec } from '../src/protocol/components.js';
import type { Rfc9421Credentials } from '../src/schemes/rfc9421/parse.js';
import { covers } from '../src/schemes/rfc9421/parse.js';
import { checkRfc9421Policy } from '../src/schemes/rfc9421/verify.js';

const NOW = 1_767_225_600;

/** The check before the memo: each spec parsed and checked in order. */
function reference(specs: readonly string[], credentials: Rfc9421Credentials): void {
  for (const spec of specs) {
    let item: ReturnType<typeof parseComponentSpec>;
    try {
      item = parseComponentSpec(spec);
    } catch (error) {
      if (error instanceof ComponentError) throw new TypeError(`policy.requiredComponents: ${error.message}`);
      throw error;
    }
    if (covers(credentials.selected, componentIdentifier(item))) continue;
    if (item.value === 'content-digest') throw new DigestMissing('the body is not covered by a Content-Digest');
    throw new ComponentNotCovered(`${componentLabel(item)} is not covered by the signature`);
  }
}

function outcome(run: () => void): unknown {
  try {
    run();
    return 'ok';
  } catch (error) {
    return { name: (error as Error).constructor.name, message: (error as Error).message };
  }
}

function credentialsCovering(labels: string[]): Rfc9421Credentials {
  return {
    keyId: 'hk_1',
    created: NOW,
    coveredComponents: labels,
    selected: {
      label: 'sig',
      signature: new Uint8Array(32),
      params: { keyId: 'hk_1', created: NOW, expires: undefined, nonce: undefined, alg: undefined, tag: undefined },
      identifiers: undefined,
      labels,
      input: undefined,
      signatureParams: '()',
    },
  } as unknown as Rfc9421Credentials;
}

function contextWith(specs: readonly string[]): VerifyContext {
  return {
    now: NOW,
    policy: {
      requiredComponents: specs,
      requiredComponentsGiven: true,
      maxAgeSeconds: 300,
      clockSkewSeconds: 5,
      requireNonce: false,
      algorithms: ['sha256'],
      tags: undefined,
      maxBodyBytes: Number.POSITIVE_INFINITY,
    },
  } as unknown as VerifyContext;
}

const NAMES = ['@method', '@authority', '@path', '@query', 'content-digest', 'content-type', 'x-a'];
// Specs: plain names, a name with a parameter, and specs that do not parse.
const spec = fc.constantFrom(...NAMES, '"x-a";sf', 'Bad Name', '"unterminated', '');

describe('checkRfc9421Policy: the parsed frozen requiredComponents list', () => {
  it('answers as checking every entry in order, for frozen, changing and alternating lists (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            list: fc.nat(2),
            covered: fc.subarray(NAMES),
            change: fc.option(fc.tuple(fc.nat(), spec), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.array(spec, { maxLength: 5 }),
        fc.array(spec, { maxLength: 5 }),
        (steps, first, second) => {
          // Two frozen lists and one the caller keeps changing in place.
          const lists: string[][] = [
            Object.freeze([...first]) as string[],
            Object.freeze([...second]) as string[],
            [...first],
          ];
          for (const { list, covered, change } of steps) {
            const specs = lists[list]!;
            if (change !== undefined && list === 2) {
              const [at, value] = change;
              if (specs.length > 0) specs[at % specs.length] = value;
              else specs.push(value);
            }
            const credentials = credentialsCovering(covered);
            expect(outcome(() => checkRfc9421Policy(credentials, contextWith(specs)))).toEqual(
              outcome(() => reference(specs, credentials)),
            );
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
