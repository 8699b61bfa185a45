import { expect } from 'vitest';
import { serializeMember } from '../../src/protocol/structured-fields.js';
import type { createRfc9421Parser } from '../../src/schemes/rfc9421/parse.js';

/** An RFC 9421 parser as `createRfc9421Parser` makes it. */
export type Rfc9421Parser = ReturnType<typeof createRfc9421Parser>;

/** One parse of a Signature-Input / Signature pair, the error as `Name: message` instead of thrown. */
export function parseFields(parser: Rfc9421Parser, input: string, signature: string) {
  try {
    const headers = { 'signature-input': input, signature };
    return { ok: true as const, value: parser.parse({ method: 'POST', url: 'https://api.example.com/a', headers }) };
  } catch (error) {
    return { ok: false as const, error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

/**
 * Expects the RFC 9421 common-shape (fast) parser to read (input, signature) exactly as the general
 * RFC 8941 parser does, and says whether the fast path took it. The general path is forced by a
 * leading space: RFC 8941 discards leading spaces, the fast path wants a key as the first character.
 * Compared: every credential the verifier uses, and the `@signature-params` line (the header's own
 * text on the fast path), which must be the canonical serialisation of what the general path read,
 * so that the MAC never covers one text while the policy judged another.
 *
 * @example
 * if (expectSameReading(parser, 'sig=("@method");keyid="k"')) fastReads++;
 */
export function expectSameReading(parser: Rfc9421Parser, input: string, signature = 'sig=:AAAA:'): boolean {
  const label = JSON.stringify([input, signature]);
  const fast = parseFields(parser, input, signature);
  const general = parseFields(parser, ` ${input}`, ` ${signature}`);
  if (!(fast.ok && fast.value.selected.signatureParams !== undefined)) {
    // The fast path declined: the same general parse ran both times.
    expect(fast.ok, label).toBe(general.ok);
    if (fast.ok && general.ok) expect(fast.value.keyId, label).toBe(general.value.keyId);
    return false;
  }
  expect(general.ok, `${label}: the general path refuses what the fast path read`).toBe(true);
  if (!general.ok) return true;
  const read = (credentials: typeof fast.value) => ({
    label: credentials.selected.label,
    keyId: credentials.keyId,
    created: credentials.created,
    expires: credentials.expires,
    nonce: credentials.nonce,
    tag: credentials.tag,
    algorithm: credentials.algorithm,
    covered: [...credentials.coveredComponents],
    signature: [...credentials.selected.signature],
  });
  expect(read(fast.value), label).toEqual(read(general.value));
  expect(fast.value.selected.signatureParams, label).toBe(serializeMember(general.value.selected.input!));
  return true;
}
