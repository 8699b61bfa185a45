/**
 * Checking an RFC 9421 signature with a resolved key: the signature base rebuilt from the request,
 * the MAC compared in constant time, the Content-Digest check for a covered body, and the scheme's
 * policy (required components, tag, nonce, time window).
 */

import { ComponentNotCovered, DigestMissing, NonceMissing, SignatureMalformed, TagNotAccepted } from '../../errors.js';
import type { ResolvedKey, SchemeVerdict, VerifyContext } from '../../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../../pipeline/contract.js';
import { macMatches, macsStrings } from '../../pipeline/keys.js';
import { checkTimeWindow } from '../../pipeline/policy.js';
import { hmacSha256MatchesAscii } from '../../primitives/hmac-sha256.js';
import { isPromiseLike } from '../../primitives/promise.js';
import {
  buildSignatureBase,
  ComponentError,
  componentIdentifier,
  componentLabel,
  contextOf,
  isLatin1,
  lastBaseContentDigest,
  latin1Bytes,
  NOT_OCTETS,
  parseComponentSpec,
  plainSignatureBase,
} from '../../protocol/components.js';
import { contentDigestCheck } from '../../protocol/content-digest.js';
import { canonicalHeaderOfLower } from '../../protocol/headers.js';
import type { Item } from '../../protocol/structured-fields.js';
import { covers, coversName, type Rfc9421Credentials, type SelectedSignature } from './parse.js';
import { withComponentErrors } from './signature-base.js';

// Policies name the same few components on every request: parse each name once.
const requiredComponentCache = new Map<string, RequiredComponent>();
const REQUIRED_COMPONENT_CACHE_LIMIT = 1000;

interface RequiredComponent {
  item: Item;
  identifier: string;
  /** The name, when `identifier` is that name in quotes (no parameters, nothing escaped). */
  name: string | undefined;
}

function requiredComponent(spec: string): RequiredComponent {
  let parsed = requiredComponentCache.get(spec);
  if (parsed === undefined) {
    const item = withComponentErrors(
      () => parseComponentSpec(spec),
      (reason) => new TypeError(`policy.requiredComponents: ${reason}`),
    );
    const identifier = componentIdentifier(item);
    const plain = item.params.size === 0 && typeof item.value === 'string' && identifier === `"${item.value}"`;
    parsed = { item, identifier, name: plain ? (item.value as string) : undefined };
    if (requiredComponentCache.size < REQUIRED_COMPONENT_CACHE_LIMIT) requiredComponentCache.set(spec, parsed);
  }
  return parsed;
}

/**
 * The parsed entries of the last frozen `requiredComponents` list checked (the policy defaults are
 * frozen lists, resolved once). Invariant: a frozen array of strings never changes, so its entries'
 * parse is fixed by its identity; the entries are the ones requiredComponent() gives each spec
 * (itself memoised by text), taken without a map lookup per entry and per request. A list that is
 * not frozen (a caller's own array, which may change in place) is read entry by entry as before.
 * Held by test/rfc9421-required-components.test.ts (frozen and unfrozen lists, changed in place,
 * alternating, refusals at every position).
 */
let lastRequired: { readonly specs: readonly string[]; readonly parsed: readonly RequiredComponent[] } = {
  specs: [],
  parsed: [],
};

export function verifyRfc9421(
  credentials: Rfc9421Credentials,
  key: ResolvedKey,
  context: VerifyContext,
): SchemeVerdict | Promise<SchemeVerdict> {
  const { crypto, message } = context;
  const selected = credentials.selected;
  let base: Uint8Array | string;
  // The Content-Digest text the common-shape base covered (undefined: not covered, or the general
  // path built the base), handed to verdictOf so that it need not look the field up again.
  let digest: string | undefined;
  // A common-shape base whose characters are not checked yet (plainSignatureBase's `verifier`).
  let unchecked = false;
  try {
    const components = contextOf(message);
    if (selected.input === undefined) {
      // The labels are lower case (the common-shape parser accepts no other); the octet check is
      // macMatchesOctets' for a provider that MACs strings, latin1Bytes()'s otherwise.
      const text = plainSignatureBase(components, selected.labels, selected.signatureParams!, true);
      digest = lastBaseContentDigest();
      if (macsStrings(crypto)) {
        base = text;
        unchecked = true;
      } else {
        base = latin1Bytes(text);
      }
    } else {
      const text = buildSignatureBase(components, selected.input, selected.identifiers);
      // A provider that MACs strings takes the base as it is; latin1Bytes() words the error otherwise.
      base = macsStrings(crypto) && isLatin1(text) ? text : latin1Bytes(text);
    }
  } catch (error) {
    if (error instanceof ComponentError) throw new SignatureMalformed(error.message);
    throw error;
  }
  const matches = unchecked
    ? macMatchesOctets(crypto, key, base as string, selected.signature)
    : macMatches(crypto, key, base, selected.signature);
  // An asynchronous MAC (WebCrypto) reads the field again once it answers, as before.
  if (isPromiseLike(matches)) return Promise.resolve(matches).then((ok) => verdictOf(ok, selected, context, undefined));
  return verdictOf(matches, selected, context, digest);
}

/**
 * {@link macMatches} of a base whose characters were not checked (plainSignatureBase with
 * `verifier`). Invariant: it answers as plainSignatureBase's own check followed by macMatches
 * would. A base the HMAC-SHA256 fast path takes is ASCII (it encodes the base and declines
 * anything else), so octets, and its answer stands; any other base is refused with the
 * same SignatureMalformed (NOT_OCTETS) when a character is above U+00FF, else MACed as before. The
 * decoy key takes the same path as a real key of the same algorithm. Held to the checked path by
 * test/rfc9421-octets-deferred.test.ts (fast-check: random field values, latin-1 and wider).
 */
function macMatchesOctets(
  crypto: VerifyContext['crypto'],
  key: ResolvedKey,
  text: string,
  presented: Uint8Array,
): boolean | Promise<boolean> {
  if (key.algorithm === 'sha256' && crypto.hash !== undefined) {
    const matches = hmacSha256MatchesAscii(crypto, key.secret, text, presented);
    if (matches !== undefined) return matches;
  }
  if (!isLatin1(text)) throw new SignatureMalformed(NOT_OCTETS);
  return macMatches(crypto, key, text, presented);
}

export function checkRfc9421Policy(credentials: Rfc9421Credentials, context: VerifyContext): void {
  const policy = context.policy;
  if (policy.tags !== undefined && (credentials.tag === undefined || !policy.tags.includes(credentials.tag))) {
    throw new TagNotAccepted('tag is not accepted');
  }
  // An indexed loop: a for...of over a frozen array (the default lists) calls V8's array iterator
  // builtin per element instead of being compiled inline.
  const specs = policy.requiredComponents;
  const known = specs === lastRequired.specs ? lastRequired.parsed : undefined;
  // Kept only for a frozen list, and only once every entry was parsed in order (a refusal below
  // stops the loop before the entries after it are even parsed, as before).
  const parsed: RequiredComponent[] | undefined = known === undefined && Object.isFrozen(specs) ? [] : undefined;
  for (let index = 0; index < specs.length; index++) {
    const required = known === undefined ? requiredComponent(specs[index]!) : known[index]!;
    parsed?.push(required);
    const { item, identifier, name } = required;
    if (
      name === undefined ? covers(credentials.selected, identifier) : coversName(credentials.selected, identifier, name)
    ) {
      continue;
    }
    if (item.value === 'content-digest') throw new DigestMissing('the body is not covered by a Content-Digest');
    throw new ComponentNotCovered(`${componentLabel(item)} is not covered by the signature`);
  }
  if (parsed !== undefined) lastRequired = { specs, parsed };
  if (policy.requireNonce && credentials.nonce === undefined) throw new NonceMissing('a nonce is required');
  checkTimeWindow(credentials, policy, context.now);
}

/**
 * The MAC's verdict, with the body check of a covered Content-Digest. `covered`: the field's text as
 * the base covered it (plainSignatureBase's `lastBaseContentDigest()`, read synchronously after the
 * base was built from the same headers), or undefined to look it up. Invariant: when defined it is
 * `canonicalHeaderOfLower(context.message.headers, 'content-digest')` (the same lookup and
 * canonicalisation over the same headers, with nothing run in between), so the check is the same;
 * held by test/rfc9421-base-digest.test.ts over random header records.
 */
function verdictOf(
  matches: boolean,
  selected: SelectedSignature,
  context: VerifyContext,
  covered: string | undefined,
): SchemeVerdict {
  if (!matches) return MAC_MISMATCHED;
  if (!coversName(selected, '"content-digest"', 'content-digest')) return MAC_MATCHED;
  // The digest header is read only for a proven signature.
  const header = covered ?? canonicalHeaderOfLower(context.message.headers, 'content-digest') ?? '';
  return { signatureMatches: true, body: contentDigestCheck(context.crypto, header) };
}
