/**
 * What a django_hmac_authentication server hashes for a request body, by Content-Type, and what
 * a gateway forwards in its place (the bytes that were hashed, so the upstream reads what was
 * signed).
 */

import { BodyNotSigned } from '../../errors.js';
import { fromUtf8, utf8 } from '../../primitives/encoding.js';
import { djangoCanonicalForm, djangoFormSerialization } from './form.js';
import { type DjangoBodyOptions, PythonJsonError, treeJsonSerialization } from './python-json.js';
import { pythonJsonOfBytes } from './python-json-bytes.js';

/** A lone surrogate: a string the UTF-8 bytes cannot stand for (the reference keeps it as a code unit). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * What django_hmac_authentication hashes for a JSON body: the text it would get from
 * `json.dumps(json.loads(body), separators=(',', ':'))`, or `null` when the parsed
 * data is falsy (`None`, `{}`, `[]`, `""`, `0`, `false`) and no body hash is signed.
 * Throws {@link PythonJsonError} where DRF would answer 400.
 *
 * @example
 * ```ts
 * djangoJsonSerialization('{"name": "Jürgen", "x": 1.0}'); // '{"name":"J\\u00fcrgen","x":1.0}'
 * ```
 */
export function djangoJsonSerialization(body: string, options: DjangoBodyOptions = {}): string | null {
  if (!LONE_SURROGATE.test(body)) {
    const bytes = pythonJsonOfBytes(utf8(body));
    if (bytes === null) return null;
    if (bytes !== undefined) return fromUtf8(bytes);
  }
  return treeJsonSerialization(body, options);
}

/** The same from the body's bytes: the bytes hashed (a view of `body` when it is already in that form). */
function djangoJsonBytes(body: Uint8Array, options: DjangoBodyOptions): Uint8Array | null {
  const bytes = pythonJsonOfBytes(body);
  if (bytes !== undefined) return bytes;
  // Undecided (invalid JSON or UTF-8, a repeated name...): the reference decides, or throws.
  const text = treeJsonSerialization(fromUtf8(body), options);
  return text === null ? null : utf8(text);
}

type BodyKind = 'json' | 'form' | 'none';

/**
 * The kind of body a Content-Type names, as DRF's parsers choose: `none` without a Content-Type
 * (the server ignores the body); throws for a charset other than UTF-8 or another media type.
 */
function bodyKindOf(contentType: string | undefined): BodyKind {
  // The usual value, without splitting it.
  if (contentType === 'application/json') return 'json';
  if (contentType === undefined || contentType.trim() === '') return 'none';
  const [mediaType, ...params] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new PythonJsonError(`charset ${charset} is not supported`);
  }
  if (mediaType === 'application/json') return 'json';
  if (mediaType === 'application/x-www-form-urlencoded') return 'form';
  throw new PythonJsonError(`content type ${mediaType} cannot be reproduced`);
}

/**
 * What the server hashes for a body: the Python re-serialisation of the parsed
 * data (see {@link djangoJsonSerialization}), `null` when nothing is hashed.
 * JSON (`application/json`) and form bodies are reproduced; a body without a
 * Content-Type is ignored by the server (DRF gives `{}`); other types throw.
 *
 * @example
 * ```ts
 * djangoBodySerialization('{"a": 1, "b": 2}', 'application/json'); // '{"a":1,"b":2}'
 * ```
 */
export function djangoBodySerialization(
  body: string,
  contentType: string | undefined,
  options: { refuseRepeatedNames?: boolean } = {},
): string | null {
  if (body === '') return null;
  const kind = bodyKindOf(contentType);
  if (kind === 'json') return djangoJsonSerialization(body, options);
  if (kind === 'form') return djangoFormSerialization(body, options);
  return null;
}

/** What {@link djangoSignedBytes} answers: the bytes hashed (`null`: none) and the bytes to forward. */
export interface DjangoSignedBytes {
  readonly hashed: Uint8Array | null;
  readonly forward: Uint8Array;
}

const NOTHING = new Uint8Array(0);

/**
 * {@link djangoSignedBody} without strings, for the verifier: `hashed` is what the signature's
 * body hash covers (`null` when nothing is), `forward` the bytes a gateway sends on. For JSON they
 * are the same bytes (a view of `bytes` when the body is already what Python writes, so nothing is
 * copied); a falsy JSON document forwards nothing; a form forwards its canonical encoding.
 * Throws as {@link djangoSignedBody} does.
 */
export function djangoSignedBytes(bytes: Uint8Array, contentType: string | undefined): DjangoSignedBytes {
  if (bytes.length === 0) return { hashed: null, forward: bytes };
  const kind = bodyKindOf(contentType);
  if (kind === 'none') throw new BodyNotSigned('django-hmac signs no body without a Content-Type');
  if (kind === 'json') {
    const hashed = djangoJsonBytes(bytes, { refuseRepeatedNames: true });
    return { hashed, forward: hashed ?? NOTHING };
  }
  const text = fromUtf8(bytes);
  const serialized = djangoFormSerialization(text, { refuseRepeatedNames: true });
  if (serialized === null) return { hashed: null, forward: NOTHING };
  return { hashed: utf8(serialized), forward: utf8(djangoCanonicalForm(text)) };
}

/**
 * What a verifier that hands the body on (the gateway) needs: `serialized`, what the signature
 * covers (as {@link djangoBodySerialization}), and `forward`, the bytes to send instead of the body
 * as received, so the upstream reads exactly what was hashed:
 * - JSON: the hashed serialisation itself; a falsy document (`{}`, `[]`, `0`, `null`...) is signed
 *   as "no body", so nothing is forwarded;
 * - a form: the signed fields re-encoded once each ({@link djangoCanonicalForm});
 * - an empty body: nothing.
 * Throws `BodyNotSigned` for a body without a Content-Type (the Django server ignores it, so no
 * signature covers it), `BodyAmbiguous` for a repeated JSON name or form field, and
 * `PythonJsonError` where DRF would answer 400.
 *
 * @example
 * ```ts
 * const { serialized, forward } = djangoSignedBody(utf8('{"amount": 5}'), 'application/json');
 * // serialized === '{"amount":5}', forward is its UTF-8 bytes
 * ```
 */
export function djangoSignedBody(
  bytes: Uint8Array,
  contentType: string | undefined,
): { serialized: string | null; forward: Uint8Array } {
  const { hashed, forward } = djangoSignedBytes(bytes, contentType);
  return { serialized: hashed === null ? null : fromUtf8(hashed), forward };
}
