/**
 * The RFC 9421 signature base: the public {@link signatureBase} (debugging, cross-language tests),
 * the base the debug diagnostics show for a refused request, and the wording of component errors.
 */

import { SignatureMalformed } from '../../errors.js';
import { textSection } from '../../pipeline/signature-base.js';
import { buildSignatureBase, ComponentError, contextOf, plainSignatureBase } from '../../protocol/components.js';
import { isInnerList, parseDictionary } from '../../protocol/structured-fields.js';
import type { MessageParts } from '../../types.js';
import type { Rfc9421Credentials } from './parse.js';

/** Runs `run`, rewording a component error with `wrap` (the signer's TypeError, the verifier's SignatureMalformed). */
export function withComponentErrors<T>(run: () => T, wrap: (message: string) => Error): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ComponentError) throw wrap(error.message);
    throw error;
  }
}

/**
 * Builds the RFC 9421 signature base of `message` for one `Signature-Input` member,
 * exactly as the verifier does (useful for debugging and cross-language tests).
 * Throws `SignatureMalformed` when the input cannot be parsed or a component is missing.
 *
 * @example
 * ```ts
 * const base = signatureBase(
 *   { method: 'GET', url: 'https://api.example.com/v1/items?x=1', headers: request.headers },
 *   request.headers.get('signature-input')!,
 * );
 * ```
 */
export function signatureBase(message: MessageParts, signatureInput: string, label?: string): string {
  const inputs = parseDictionary(signatureInput, 'Signature-Input');
  const member = label === undefined ? inputs.values().next().value : inputs.get(label);
  if (!member || !isInnerList(member)) throw new SignatureMalformed('no such Signature-Input member');
  return withComponentErrors(
    () => buildSignatureBase(contextOf(message), member),
    (reason) => new SignatureMalformed(reason),
  );
}

/** The signature base `verify` MACs (debug diagnostics): request-derived, no key. */
export function rfc9421DebugBase(credentials: Rfc9421Credentials, context: { message: MessageParts }) {
  const selected = credentials.selected;
  const components = contextOf(context.message);
  const text =
    selected.input === undefined
      ? plainSignatureBase(components, selected.labels, selected.signatureParams!)
      : buildSignatureBase(components, selected.input, selected.identifiers);
  return [textSection('signature base', text)];
}
