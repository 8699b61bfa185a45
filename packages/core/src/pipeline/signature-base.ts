/**
 * Mismatch diagnostics (`debugSignatures`): when a request fails with `signature_invalid`, the
 * pipeline can attach what the server MACed, rebuilt from the request alone by the scheme's
 * optional `signatureBase` capability, and `toProblem` then adds it to the problem body as
 * `signature_base`. Never a MAC, an expected signature, a secret or anything derived from a key:
 * the report is built without the key, so an unknown key id and a wrong signature get the same
 * one (docs/troubleshooting.md#debug-signatures).
 *
 * The report travels beside the error (a WeakMap), not on it: loggers that serialise an error's
 * own properties never see it.
 */
import { toBase64, utf8 } from '../primitives/encoding.js';
import type { Credentials, Scheme, SignatureBaseContext, SignatureBaseSection } from './contract.js';

/** The server's signature base for one refused request, as the problem body carries it. */
export interface SignatureBaseReport {
  /** The scheme that parsed the request (`rfc9421`, `sigv4`, a declared scheme's name...). */
  readonly scheme: string;
  readonly sections: readonly SignatureBaseSection[];
}

const reports = new WeakMap<object, SignatureBaseReport>();

/** Characters a terminal shows as they are: printable text, tabs and line breaks. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters.
const UNPRINTABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffd]/;

/**
 * A section from text: kept as text when printable, else given as base64 of its UTF-8 bytes.
 *
 * @example
 * ```ts
 * textSection('string to sign', 'GET\n/v1/items'); // { name: 'string to sign', text: 'GET\n/v1/items' }
 * ```
 */
export function textSection(name: string, text: string): SignatureBaseSection {
  return UNPRINTABLE.test(text) ? { name, base64: toBase64(utf8(text)) } : { name, text };
}

/**
 * A section from bytes: UTF-8 text when the bytes are printable UTF-8, else base64.
 *
 * @example
 * ```ts
 * bytesSection('message', new TextEncoder().encode('12:34:56:78:9a:bc:1714489200'));
 * ```
 */
export function bytesSection(name: string, bytes: Uint8Array): SignatureBaseSection {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { name, base64: toBase64(bytes) };
  }
  return UNPRINTABLE.test(text) ? { name, base64: toBase64(bytes) } : { name, text };
}

/**
 * The report of `scheme` for a request, or `undefined` when the scheme lacks the capability or
 * cannot rebuild the base (a covered header missing, a body it cannot read): never throws.
 */
export function buildSignatureBaseReport(
  scheme: Scheme,
  credentials: Credentials,
  context: SignatureBaseContext,
): SignatureBaseReport | undefined {
  if (typeof scheme.signatureBase !== 'function') return undefined;
  try {
    const sections = scheme.signatureBase(credentials, context);
    if (!Array.isArray(sections) || sections.length === 0) return undefined;
    return { scheme: scheme.name, sections };
  } catch {
    return undefined;
  }
}

/** Attaches a report to a refusal (the pipeline, debug mode only). */
export function attachSignatureBase(error: unknown, report: SignatureBaseReport): void {
  if (typeof error === 'object' && error !== null) reports.set(error, report);
}

/**
 * The signature base the pipeline attached to a refusal (only with `debugSignatures` on), for
 * `toProblem` and for callers that build their own answers.
 *
 * @example
 * ```ts
 * const report = signatureBaseOf(outcome.error); // { scheme: 'rfc9421', sections: [{ name: 'signature base', text }] }
 * ```
 */
export function signatureBaseOf(error: unknown): SignatureBaseReport | undefined {
  return typeof error === 'object' && error !== null ? reports.get(error) : undefined;
}
