/**
 * Declarative schemes: a home-made HMAC scheme described as data (where the signature is, how it
 * is encoded, which key, which message, which time and nonce), so hmac-kit can sit in front of
 * clients that already run it without a change on their side (issue #12). The four common
 * families, their grades and ready-made configurations: docs/protocol-legacy.md, examples/legacy/.
 *
 * This module holds the definition itself: its types, the check of its shape, and what can be told
 * from it alone (whether it needs the body, what it leaves unprotected). The message/MAC logic is
 * in message.ts (standalone); scheme.ts plugs both into the scheme contract.
 */

import type { HashAlgorithm } from '../../types.js';

/** One piece of the signed message, concatenated in order (no separator: use `literal`). */
export type MessagePart =
  | 'method'
  | 'path'
  | 'query'
  | 'body'
  | 'django-json'
  | 'python-str'
  | { literal: string }
  | { header: string }
  | { jsonField: string };

/** Where a value (key id, timestamp, nonce) is read: a request header or a field of the JSON body. */
export type ValueSource = { header: string } | { jsonField: string };

/** A scheme described as data. Validate untrusted input with the server's config schema first. */
export interface DeclarativeSchemeDefinition {
  /** Name in logs, metrics and key usage, e.g. `authorization-hmac`. */
  name: string;
  signature: {
    /** Header carrying the signature, e.g. `authorization`, `x-hmac-signature`. */
    header: string;
    /** Text before the MAC in that header, e.g. `HMAC ` (compared case-sensitively). */
    prefix?: string;
    /** `hex` (any case accepted, lower case sent) or `base64` (standard or URL-safe, padding optional). */
    encoding: 'hex' | 'base64';
  };
  /** Accepted hash functions; the MAC length tells which one a request used. Default `['sha256']`. */
  algorithms?: readonly HashAlgorithm[];
  /** The key: named by a request header, or one fixed key id for single-secret systems (e.g. `legacy`). */
  keyId: { header: string } | { fixed: string };
  /** The signed message, part after part. */
  message: readonly MessagePart[];
  /** The signing time, when the scheme has one. */
  timestamp?: ValueSource & {
    format: 'unix' | 'iso8601';
    /** Accepted distance from the server clock, both directions, in seconds. Default 300. */
    windowSeconds?: number;
  };
  /**
   * A request nonce header. Without one the signature itself is remembered (for the timestamp
   * window, or `rememberSeconds`), so an identical copy is refused while it is remembered.
   */
  nonce?: { header: string };
  /** How long a signature is remembered when there is neither a nonce nor a timestamp. Default 300. */
  rememberSeconds?: number;
}

/** MAC length per hash: parse tells the algorithm a request used from it. */
export const DIGEST_BYTES: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, sha384: 48, sha512: 64 };
/** Default timestamp window and remember time, in seconds. */
export const DEFAULT_WINDOW = 300;

/** Whether the message (or the timestamp) needs the body: it is then checked once the body is read. */
export function declarativeNeedsBody(definition: DeclarativeSchemeDefinition): boolean {
  const bodyPart = definition.message.some(
    (part) =>
      part === 'body' ||
      part === 'django-json' ||
      part === 'python-str' ||
      (typeof part === 'object' && 'jsonField' in part),
  );
  const fromBody = (source: ValueSource | undefined) => source !== undefined && 'jsonField' in source;
  return bodyPart || fromBody(definition.timestamp);
}

/**
 * What the scheme leaves unprotected, one sentence for the start-up warning and the docs, or
 * `undefined` when it signs method, path, query and body with a time and a nonce.
 *
 * @example
 * ```ts
 * declarativeWeakness(definition); // 'signs no time: ...; signs neither the method nor the path'
 * ```
 */
export function declarativeWeakness(definition: DeclarativeSchemeDefinition): string | undefined {
  const has = (part: MessagePart) => definition.message.includes(part);
  const signsBody = has('body') || has('django-json') || has('python-str');
  const signsSomeBody = signsBody || definition.message.some((part) => typeof part === 'object' && 'jsonField' in part);
  const gaps: string[] = [];
  if (!definition.timestamp) {
    gaps.push('signs no time: a copy is refused only while its signature is remembered, and accepted again after');
  } else {
    const timeSigned = definition.message.some(
      (part) =>
        typeof part === 'object' &&
        (('header' in part && 'header' in definition.timestamp! && part.header === definition.timestamp.header) ||
          ('jsonField' in part &&
            'jsonField' in definition.timestamp! &&
            part.jsonField === definition.timestamp.jsonField)),
    );
    if (!timeSigned && !signsBody) gaps.push('the timestamp is not signed: it can be changed to replay a copy');
  }
  if (!definition.nonce) gaps.push('no nonce: the signature is its only replay marker');
  if (!has('method')) gaps.push('does not sign the method');
  if (!has('path')) gaps.push('does not sign the path');
  if (!has('query')) gaps.push('does not sign the query');
  if (!signsBody) gaps.push(signsSomeBody ? 'signs only some fields of the body' : 'does not sign the body');
  if (!('header' in definition.keyId)) gaps.push('one shared secret for every client');
  return gaps.length > 0 ? gaps.join('; ') : undefined;
}

/** Checks the definition's shape (programmer input; the server validates config files with zod first). */
export function checkDefinition(definition: DeclarativeSchemeDefinition): void {
  if (definition === null || typeof definition !== 'object')
    throw new TypeError('declarativeScheme: definition must be an object');
  if (typeof definition.name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(definition.name))
    throw new TypeError('declarativeScheme: name must be 1-63 characters of a-z 0-9 . _ -');
  if (!Array.isArray(definition.message) || definition.message.length === 0)
    throw new TypeError('declarativeScheme: message must list at least one part');
  for (const algorithm of definition.algorithms ?? ['sha256']) {
    if (!(algorithm in DIGEST_BYTES))
      throw new TypeError('declarativeScheme: algorithms may be sha256, sha384, sha512');
  }
}
