/**
 * Standard Webhooks (standardwebhooks.com, the format Svix and others send):
 * `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`,
 * several space-separated signatures during secret rotation, 5 minutes of
 * tolerance both ways. Normative description: docs/protocol-standard-webhooks.md.
 */

import {
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
} from '../errors.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../pipeline/contract.js';
import { bytesSection } from '../pipeline/signature-base.js';
import { concatBytes, fromBase64, toBase64, toHex, utf8 } from '../primitives/encoding.js';
import { getHeader } from '../protocol/headers.js';
import type { BodyCheck, CryptoProvider, MessageParts, SigningKey } from '../types.js';
import { checkRequiredComponents, cryptoOf, nowOf, rawSecretOf } from './compat-support.js';

/** The tolerance of the reference libraries, both directions. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;
const SECRET_PREFIX = 'whsec_';
const TIMESTAMP = /^\d{1,15}$/;
const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/;

/** The three parts of a webhook delivery a signature covers, plus the signature header. */
export interface WebhookMessage {
  /** `webhook-id` */
  id: string;
  /** `webhook-timestamp`, Unix seconds (string as received, or number). */
  timestamp: string | number;
  /** `webhook-signature`: space-separated `v1,<base64>` entries. */
  signatureHeader: string;
  /** The raw body bytes (or the exact text received). */
  body: Uint8Array | string;
}

/** Options of {@link verifyWebhook} and {@link signWebhook}. */
export interface WebhookOptions {
  crypto?: CryptoProvider;
  /** Current Unix time in seconds (tests). */
  now?: () => number;
  /** Allowed distance between `webhook-timestamp` and now, both directions. Default 300. */
  toleranceSeconds?: number;
}

/**
 * HMAC key bytes of a Standard Webhooks secret: `whsec_<base64>` (the form senders
 * show), plain base64, hmac-kit's `hks_...`, or raw bytes.
 *
 * @example
 * ```ts
 * parseWebhookSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').length; // 24
 * ```
 */
export function parseWebhookSecret(secret: string | Uint8Array): Uint8Array {
  if (typeof secret === 'string' && secret.startsWith(SECRET_PREFIX)) {
    const raw = fromBase64(secret.slice(SECRET_PREFIX.length), { strict: true });
    if (!raw || raw.length === 0) throw new TypeError('webhook secret is not whsec_ followed by base64');
    return raw;
  }
  return rawSecretOf(secret, true);
}

/** `{id}.{timestamp}.` as bytes: what precedes the body in the signed content. */
function signedPrefix(id: string, timestamp: string): Uint8Array {
  return utf8(`${id}.${timestamp}.`);
}

function bodyOf(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? utf8(body) : body;
}

/** The base64 `v1` signatures of a header; other versions (`v1a` = ed25519) are ignored. */
function v1Signatures(header: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const entry of header.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const signature = fromBase64(entry.slice(comma + 1), { strict: true });
    if (signature && signature.length > 0) out.push(signature);
  }
  return out;
}

function checkParts(id: string, timestamp: string) {
  if (!MESSAGE_ID.test(id)) throw new SignatureMalformed('webhook-id is empty or contains spaces');
  if (!TIMESTAMP.test(timestamp)) throw new SignatureMalformed('webhook-timestamp must be Unix seconds');
}

function checkTolerance(timestamp: number, now: number, tolerance: number) {
  if (timestamp > now + tolerance) throw new SignatureFromFuture('webhook timestamp too new', now);
  if (timestamp < now - tolerance) throw new SignatureExpired('webhook timestamp too old', now);
}

/** Compares against every candidate (no early exit), in constant time per comparison. */
function anyMatches(crypto: CryptoProvider, expected: Uint8Array, candidates: readonly Uint8Array[]): boolean {
  let matched = false;
  for (const candidate of candidates) if (crypto.timingSafeEqual(expected, candidate)) matched = true;
  return matched;
}

/**
 * Verifies one Standard Webhooks delivery. Resolves with the id and timestamp;
 * throws `SignatureMissing` (no `v1` signature), `SignatureMalformed`,
 * `SignatureExpired` / `SignatureFromFuture` (outside 5 minutes) or `SignatureInvalid`.
 *
 * @example
 * ```ts
 * await verifyWebhook(
 *   { id: req.headers['webhook-id'], timestamp: req.headers['webhook-timestamp'],
 *     signatureHeader: req.headers['webhook-signature'], body: rawBody },
 *   process.env.WEBHOOK_SECRET, // 'whsec_...'
 * );
 * ```
 */
export async function verifyWebhook(
  message: WebhookMessage,
  secret: string | Uint8Array,
  options: WebhookOptions = {},
): Promise<{ id: string; timestamp: number }> {
  const key = parseWebhookSecret(secret);
  const crypto = cryptoOf(options);
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  if (typeof message?.signatureHeader !== 'string' || message.signatureHeader === '') {
    throw new SignatureMissing('no webhook-signature');
  }
  const id = String(message.id ?? '');
  const timestamp = String(message.timestamp ?? '');
  checkParts(id, timestamp);
  checkTolerance(Number(timestamp), nowOf(options), tolerance);
  const signatures = v1Signatures(message.signatureHeader);
  if (signatures.length === 0) throw new SignatureMissing('no v1 signature in webhook-signature');
  const expected = await crypto.hmac('sha256', key, concatBytes([signedPrefix(id, timestamp), bodyOf(message.body)]));
  if (!anyMatches(crypto, expected, signatures)) throw new SignatureInvalid('no matching webhook signature');
  return { id, timestamp: Number(timestamp) };
}

/**
 * Signs a delivery: returns the `webhook-signature` value (`v1,<base64>`).
 *
 * @example
 * ```ts
 * const signature = await signWebhook({ id: 'msg_2b...', timestamp: Math.floor(Date.now() / 1000), body }, 'whsec_...');
 * ```
 */
export async function signWebhook(
  message: Omit<WebhookMessage, 'signatureHeader'>,
  secret: string | Uint8Array,
  options: Pick<WebhookOptions, 'crypto'> = {},
): Promise<string> {
  const key = parseWebhookSecret(secret);
  const id = String(message.id);
  const timestamp = String(message.timestamp);
  if (!MESSAGE_ID.test(id) || !TIMESTAMP.test(timestamp)) throw new TypeError('signWebhook: invalid id or timestamp');
  const signature = await cryptoOf(options).hmac(
    'sha256',
    key,
    concatBytes([signedPrefix(id, timestamp), bodyOf(message.body)]),
  );
  return `v1,${toBase64(signature)}`;
}

/** Options of {@link standardWebhooks}. */
export interface StandardWebhooksOptions {
  /** Fixed key id (one sender per endpoint); wins over `keyIdHeader`. */
  keyId?: string;
  /** Header carrying the key id (Standard Webhooks itself has none). Default `webhook-key-id`. */
  keyIdHeader?: string;
  /** Header prefix: `webhook-` (default) or `svix-` for Svix's spelling. */
  headerPrefix?: 'webhook-' | 'svix-';
  /** Default 300, both directions (the reference libraries' value). */
  toleranceSeconds?: number;
}

/**
 * Standard Webhooks as a {@link Scheme}, for receiving webhooks through the same
 * verifier, middleware and gateway. Keys are looked up like any other key; their
 * raw secret is the `whsec_` secret's bytes and their algorithm must be sha256.
 *
 * @example
 * ```ts
 * const verified = await verifyRequest(request, { keys, nonceStore, schemes: [standardWebhooks({ keyId: 'hk_stripe_like' })] });
 * ```
 */
export function standardWebhooks(options: StandardWebhooksOptions = {}): Scheme<WebhookCredentials> {
  if (options === null || typeof options !== 'object')
    throw new TypeError('standardWebhooks: options must be an object');
  const prefix = options.headerPrefix ?? 'webhook-';
  if (prefix !== 'webhook-' && prefix !== 'svix-')
    throw new TypeError("standardWebhooks: headerPrefix is 'webhook-' or 'svix-'");
  const fixedKeyId = options.keyId;
  if (fixedKeyId !== undefined && (typeof fixedKeyId !== 'string' || fixedKeyId === '')) {
    throw new TypeError('standardWebhooks: keyId must be a non-empty string');
  }
  const keyIdHeader = (options.keyIdHeader ?? 'webhook-key-id').toLowerCase();
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0)
    throw new TypeError('standardWebhooks: toleranceSeconds must be >= 0');
  const names = { id: `${prefix}id`, timestamp: `${prefix}timestamp`, signature: `${prefix}signature` };

  const covered: readonly string[] = Object.freeze(['content-digest', names.id, names.timestamp]);

  function parse(message: MessageParts): WebhookCredentials {
    const signatureHeader = getHeader(message.headers, names.signature);
    if (signatureHeader === undefined) throw new SignatureMissing(`no ${names.signature}`);
    const id = getHeader(message.headers, names.id) ?? '';
    const timestamp = getHeader(message.headers, names.timestamp) ?? '';
    checkParts(id, timestamp);
    const keyId = fixedKeyId ?? getHeader(message.headers, keyIdHeader);
    if (!keyId) throw new SignatureMalformed(`no ${keyIdHeader} header`);
    const signatures = v1Signatures(signatureHeader);
    if (signatures.length === 0) throw new SignatureMissing('no v1 signature');
    const created = Number(timestamp);
    return {
      keyId,
      algorithm: 'sha256',
      created,
      // Senders reuse webhook-id on retries with a new timestamp and signature, so id+timestamp is the nonce.
      nonce: `${id}.${timestamp}`,
      acceptableUntil: created + tolerance,
      coveredComponents: covered,
      id,
      timestamp,
      signatures,
    };
  }

  return {
    name: 'standard-webhooks',

    detect(message: MessageParts): boolean {
      return (
        getHeader(message.headers, names.signature) !== undefined && getHeader(message.headers, names.id) !== undefined
      );
    },

    parse,

    /** `id.timestamp.body`, what the MAC covers (debug diagnostics). */
    signatureBase(credentials: WebhookCredentials, { body, hasBody }) {
      const signed = body ?? (hasBody ? undefined : new Uint8Array(0));
      if (signed === undefined) return undefined;
      return [
        bytesSection('signed content', concatBytes([signedPrefix(credentials.id, credentials.timestamp), signed])),
      ];
    },

    checkPolicy(credentials: WebhookCredentials, context: VerifyContext): void {
      checkTolerance(credentials.created, context.now, tolerance);
      checkRequiredComponents(credentials.coveredComponents, context.policy);
    },

    verify(credentials: WebhookCredentials, key: ResolvedKey, context: VerifyContext): SchemeVerdict {
      const crypto = context.crypto;
      const mac = crypto.createHmac('sha256', key.secret);
      mac.update(signedPrefix(credentials.id, credentials.timestamp));
      if (!context.hasBody) {
        return anyMatches(crypto, mac.digest(), credentials.signatures) ? MAC_MATCHED : MAC_MISMATCHED;
      }
      let finished = false;
      const body: BodyCheck = {
        update(chunk: Uint8Array) {
          mac.update(chunk);
        },
        async finish() {
          if (finished) throw new TypeError('finish() called twice');
          finished = true;
          if (!anyMatches(crypto, mac.digest(), credentials.signatures)) {
            throw new SignatureInvalid('no matching webhook signature');
          }
        },
      };
      return { signatureMatches: undefined, body };
    },

    async sign(message, key: SigningKey, signOptions = {}) {
      const opts = signOptions as { crypto?: CryptoProvider; now?: () => number; id?: string };
      if (key.algorithm !== undefined && key.algorithm !== 'sha256')
        throw new TypeError('Standard Webhooks signs with sha256');
      const crypto = cryptoOf(opts);
      const id = opts.id ?? getHeader(message.headers, names.id) ?? `msg_${toHex(crypto.randomBytes(16))}`;
      const timestamp = String(nowOf(opts));
      const signature = await signWebhook({ id, timestamp, body: message.body ?? new Uint8Array(0) }, key.secret, {
        crypto,
      });
      const headers: Record<string, string> = {
        [names.id]: id,
        [names.timestamp]: timestamp,
        [names.signature]: signature,
      };
      if (fixedKeyId === undefined) headers[keyIdHeader] = key.keyId;
      return { headers };
    },
  };
}

/** What {@link standardWebhooks}' parse reads. */
interface WebhookCredentials extends Credentials {
  readonly created: number;
  readonly id: string;
  readonly timestamp: string;
  readonly signatures: Uint8Array[];
}
