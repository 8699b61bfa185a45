import { BodyAmbiguous, BodyNotSigned, djangoSignedBody } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Issue #11 defect 5: what the gateway forwards for a django-hmac body is what was hashed. Whatever
// body arrives, the bytes handed on must re-hash to the same signed serialisation (an upstream that
// verifies again, or parses, reads exactly what the signature covers), and must never be ambiguous.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** djangoSignedBody, or the error class name it threw. */
function reading(bytes: Uint8Array, contentType: string | undefined) {
  try {
    return djangoSignedBody(bytes, contentType);
  } catch (error) {
    return (error as Error).constructor.name;
  }
}

describe('djangoSignedBody: the forwarded bytes are the signed ones', () => {
  it('JSON: forwarding is idempotent (the forwarded body signs the same) for any document', () => {
    const documents = fc.oneof(
      fc.jsonValue().map((value) => JSON.stringify(value, null, 1)),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.string({ unit: 'binary', maxLength: 30 }).map((s) => JSON.stringify({ s, n: 1.5, big: 1e21 })),
    );
    fc.assert(
      fc.property(documents, (text) => {
        const first = reading(encoder.encode(text), JSON_TYPE);
        if (typeof first === 'string') return; // refused: nothing is forwarded
        const again = reading(first.forward, JSON_TYPE);
        if (first.serialized === null) {
          expect(first.forward.length).toBe(0);
          return;
        }
        expect(typeof again).toBe('object');
        expect((again as typeof first).serialized).toBe(first.serialized);
        expect(decoder.decode(first.forward)).toBe(first.serialized);
      }),
      { numRuns: 200 },
    );
  });

  it('forms: the re-encoded fields sign the same, and no field appears twice', () => {
    const field = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 });
    const forms = fc
      .uniqueArray(fc.tuple(field, fc.string({ unit: 'grapheme', maxLength: 8 })), {
        selector: ([name]) => name,
        maxLength: 6,
      })
      .map((pairs) => new URLSearchParams(pairs).toString());
    fc.assert(
      fc.property(forms, (text) => {
        const first = reading(encoder.encode(text), FORM_TYPE);
        if (typeof first === 'string') return;
        if (first.serialized === null) {
          expect(first.forward.length).toBe(0);
          return;
        }
        const again = reading(first.forward, FORM_TYPE);
        expect(typeof again).toBe('object');
        expect((again as typeof first).serialized).toBe(first.serialized);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses what no signature covers and what reads two ways', () => {
    expect(reading(encoder.encode('{"amount":5}'), undefined)).toBe(BodyNotSigned.name);
    expect(reading(encoder.encode('{"amount":5}'), '  ')).toBe(BodyNotSigned.name);
    expect(reading(encoder.encode('{"amount":999,"amount":1}'), JSON_TYPE)).toBe(BodyAmbiguous.name);
    expect(reading(encoder.encode('{"a":{"b":1,"\\u0062":2}}'), JSON_TYPE)).toBe(BodyAmbiguous.name);
    expect(reading(encoder.encode('amount=999&amount=1'), FORM_TYPE)).toBe(BodyAmbiguous.name);
    expect(reading(encoder.encode('a=1&%61=2'), FORM_TYPE)).toBe(BodyAmbiguous.name);
    // Falsy documents are signed as "no body": nothing is forwarded in their place.
    for (const falsy of ['{}', '[]', '0', 'null', '""', 'false']) {
      const result = reading(encoder.encode(falsy), JSON_TYPE);
      expect(result, falsy).toMatchObject({ serialized: null });
      expect((result as { forward: Uint8Array }).forward.length, falsy).toBe(0);
    }
  });
});
