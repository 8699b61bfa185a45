/**
 * django-hmac's `application/x-www-form-urlencoded` bodies: what the server hashes (Django's
 * QueryDict as a dict of each name's last value, through Python's `json.dumps`) and the canonical
 * form a gateway forwards instead of the body as received.
 */

import { BodyAmbiguous } from '../../errors.js';
import { type DjangoBodyOptions, dump, type PyValue } from './python-json.js';

/**
 * What django_hmac_authentication hashes for an `application/x-www-form-urlencoded` body: Django's QueryDict
 * (`parse_qsl`, blank values kept, `+` as space) serialised as a dict of each
 * key's *last* value, keys in order of first appearance.
 *
 * @example
 * ```ts
 * djangoFormSerialization('a=1&b=x+y&a=2'); // '{"a":"2","b":"x y"}'
 * ```
 */
export function djangoFormSerialization(body: string, options: DjangoBodyOptions = {}): string | null {
  const entries = djangoFormEntries(body, options);
  return entries.size === 0 ? null : dump({ kind: 'dict', entries: new Map([...entries].map(toPyStr)) });
}

function toPyStr([name, value]: [string, string]): [string, PyValue] {
  return [name, { kind: 'str', value }];
}

/** The decoded fields of a form body as Django's QueryDict reads them: each name's last value, in first-seen order. */
function djangoFormEntries(body: string, options: DjangoBodyOptions): Map<string, string> {
  const entries = new Map<string, string>();
  for (const piece of body.split('&')) {
    if (piece === '') continue;
    const equals = piece.indexOf('=');
    const name = formUnquote(equals < 0 ? piece : piece.slice(0, equals));
    if (options.refuseRepeatedNames && entries.has(name)) {
      throw new BodyAmbiguous('a form field appears twice; django-hmac signs only its last value');
    }
    entries.set(name, formUnquote(equals < 0 ? '' : piece.slice(equals + 1)));
  }
  return entries;
}

/**
 * A form body re-encoded from exactly the fields the signature covers (each name once, in the
 * signed order, UTF-8 percent-encoded as Python's `urlencode`), so every form parser reads the
 * values that were hashed: no `;` separators, no undecodable escapes, no repeated names.
 *
 * @example
 * ```ts
 * djangoCanonicalForm('b=x+y&a=%C3%A9'); // 'b=x+y&a=%C3%A9'
 * ```
 */
export function djangoCanonicalForm(body: string): string {
  return [...djangoFormEntries(body, { refuseRepeatedNames: true })]
    .map(([name, value]) => `${formQuote(name)}=${formQuote(value)}`)
    .join('&');
}

/** `urllib.parse.quote_plus`: unreserved characters as they are, space as `+`, the rest as UTF-8 escapes. */
function formQuote(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

const lenientUtf8 = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

/** `urllib.parse.unquote_plus(..., errors='replace')`. */
function formUnquote(text: string): string {
  const bytes: number[] = [];
  for (const piece of text.replace(/\+/g, ' ').split(/(%[0-9a-fA-F]{2})/)) {
    if (/^%[0-9a-fA-F]{2}$/.test(piece)) bytes.push(Number.parseInt(piece.slice(1), 16));
    else bytes.push(...textEncoder.encode(piece));
  }
  return lenientUtf8.decode(new Uint8Array(bytes));
}
