/**
 * Key resolution that does not reveal which key ids exist: when the resolver
 * finds nothing, the caller still computes and compares a MAC with a dummy key,
 * so an unknown key id costs the same as a wrong signature.
 */
import { latin1Bytes } from './components.js';
import { binaryEqualsBytes } from './encoding.js';
import { KeyUnknown, SignatureInvalid } from './errors.js';
import { hmacSha256OfAscii } from './hmac-sha256.js';
import { parseSecret, SECRET_PREFIX } from './secret.js';
import type {
  CryptoProvider,
  HashAlgorithm,
  KeyResolver,
  MessageParts,
  Scheme,
  SignatureCheck,
  VerificationKey,
  VerifyOptions,
} from './types.js';

const ALGORITHMS: ReadonlySet<unknown> = new Set(['sha256', 'sha384', 'sha512']);

/**
 * What a key resolver returned, checked and made usable: `undefined` when it found nothing, the
 * key itself when it is well formed (no copy on the hot path), a copy with the raw bytes when its
 * `secret` is the printable `hks_...` string the CLI prints (easy to paste into a resolver), and
 * `algorithm` defaulting to `'sha256'` (what `hmac-kit keys create` issues). Anything else is a
 * programming error and throws a `TypeError` that says what the resolver should return; it never
 * echoes the secret.
 *
 * @example
 * ```ts
 * checkVerificationKey({ keyId: 'hk_1', secret: 'hks_3q2-7w...' }, 'hk_1');
 * // { keyId: 'hk_1', secret: Uint8Array(32), algorithm: 'sha256' }
 * ```
 */
export function checkVerificationKey(found: unknown, keyId: string): VerificationKey | undefined {
  if (found === undefined || found === null) return undefined;
  if (typeof found !== 'object') {
    throw new TypeError(
      `the keys resolver must return { keyId, secret, algorithm } or undefined, not a ${typeof found} (docs/middleware.md "Keys")`,
    );
  }
  const key = found as Omit<Partial<VerificationKey>, 'secret'> & { secret?: unknown };
  let secret: unknown = key.secret;
  if (!(secret instanceof Uint8Array)) {
    if (typeof secret === 'string' && secret.startsWith(SECRET_PREFIX)) {
      try {
        secret = parseSecret(secret);
      } catch (error) {
        throw new TypeError(`the secret the keys resolver returned for key ${keyId}: ${(error as Error).message}`);
      }
    } else {
      throw new TypeError(
        `the keys resolver returned key ${keyId} with a ${typeof secret === 'string' ? 'string' : typeof secret} secret: ` +
          `give the raw bytes (Uint8Array) or the printable "${SECRET_PREFIX}..." secret (docs/middleware.md "Keys")`,
      );
    }
  }
  const algorithm = key.algorithm ?? 'sha256';
  if (!ALGORITHMS.has(algorithm)) {
    throw new TypeError(
      `the keys resolver returned key ${keyId} with algorithm ${JSON.stringify(algorithm)}: use sha256, sha384 or sha512`,
    );
  }
  if (secret === key.secret && algorithm === key.algorithm && typeof key.keyId === 'string') {
    return key as VerificationKey;
  }
  return { ...key, keyId: typeof key.keyId === 'string' ? key.keyId : keyId, secret, algorithm } as VerificationKey;
}

/** Length of issued secrets; the dummy key matches it so HMAC key setup costs the same. */
const DUMMY_KEY_LENGTH = 32;
let dummySecret: Uint8Array | undefined;

function dummyKey(provider: CryptoProvider): Uint8Array {
  dummySecret ??= provider.randomBytes(DUMMY_KEY_LENGTH);
  return dummySecret;
}

/**
 * Resolves `keyId`; when no key exists returns `key: undefined` together with a
 * dummy secret of issued length, which the caller must use exactly as it would a
 * real one before throwing `KeyUnknown` (see {@link verifyMac}).
 *
 * @example
 * ```ts
 * const { key, secret } = await resolveKeyOrDummy(options.keys, keyId, provider);
 * const expected = await provider.hmac('sha256', secret, data);
 * const ok = provider.timingSafeEqual(expected, presented);
 * if (!key) throw new KeyUnknown('unknown key id');
 * ```
 */
export async function resolveKeyOrDummy(
  keys: KeyResolver,
  keyId: string,
  provider: CryptoProvider,
): Promise<{ key: VerificationKey | undefined; secret: Uint8Array }> {
  if (typeof keys !== 'function') throw new TypeError('options.keys must be a function (keyId) => key | undefined');
  return keyOrDummy(await keys(keyId), provider, keyId);
}

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value instanceof Promise || typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

function keyOrDummy(
  found: VerificationKey | undefined | null,
  provider: CryptoProvider,
  keyId: string,
): { key: VerificationKey | undefined; secret: Uint8Array } {
  const key = checkVerificationKey(found, keyId);
  if (key === undefined) {
    // A real secret may be any length; matching the issued length keeps the common case indistinguishable.
    return { key: undefined, secret: dummyKey(provider) };
  }
  return { key, secret: key.secret };
}

/**
 * Resolves the key, computes HMAC(`data`) with it (or with a dummy key when the key is
 * unknown), compares with `presented` in constant time, and throws `KeyUnknown` or
 * `SignatureInvalid`. Returns the key when the MAC matches; synchronously when both the
 * resolver and the provider answer synchronously (in-memory caches, node:crypto), since each
 * promise is a microtask hop and a verification is short enough for them to show.
 *
 * @example
 * ```ts
 * const key = await verifyMac({ keys, keyId, provider, unknownKeyAlgorithm: 'sha256', data, presented });
 * ```
 */
export function verifyMac(args: MacArguments): VerificationKey | Promise<VerificationKey> {
  if (typeof args.keys !== 'function') {
    throw new TypeError('options.keys must be a function (keyId) => key | undefined');
  }
  const found = args.keys(args.keyId);
  if (isPromise(found)) return Promise.resolve(found).then((key) => macWith(args, key));
  return macWith(args, found);
}

interface MacArguments {
  keys: KeyResolver;
  keyId: string;
  provider: CryptoProvider;
  /** The hash tried when the key is unknown (the one the signature claims, as a real key would use). */
  unknownKeyAlgorithm: HashAlgorithm;
  /** The signed bytes, or a string of characters up to U+00FF standing for its latin-1 bytes. */
  data: Uint8Array | string;
  presented: Uint8Array;
}

function macWith(
  args: MacArguments,
  found: VerificationKey | undefined | null,
): VerificationKey | Promise<VerificationKey> {
  const key = checkVerificationKey(found, args.keyId);
  // A real secret may be any length; matching the issued length keeps the common case indistinguishable.
  const secret = key === undefined ? dummyKey(args.provider) : key.secret;
  const algorithm = key?.algorithm ?? args.unknownKeyAlgorithm;
  const provider = args.provider;
  const data = args.data;
  if (typeof data === 'string') {
    // HMAC-SHA256 of an ASCII base from cached key pads (two one-shot hashes), else the provider's
    // string HMAC: either way no byte copy of the base and no Buffer per MAC.
    let matches: boolean | undefined;
    if (algorithm === 'sha256' && provider.hash !== undefined) {
      const mac = hmacSha256OfAscii(provider, secret, data);
      if (mac !== undefined) matches = provider.timingSafeEqual(mac, args.presented);
    }
    if (matches === undefined && provider.hmacString !== undefined) {
      matches = binaryEqualsBytes(provider.hmacString(algorithm, secret, data), args.presented);
    }
    if (matches !== undefined) {
      if (!key) throw new KeyUnknown('no key with this key id');
      if (!matches) throw new SignatureInvalid('signature does not match');
      return key;
    }
  }
  const expected = provider.hmac(algorithm, secret, typeof data === 'string' ? latin1Bytes(data) : data);
  if (isPromise(expected)) return Promise.resolve(expected).then((mac) => compareMac(args, key, mac));
  return compareMac(args, key, expected);
}

function compareMac(args: MacArguments, key: VerificationKey | undefined, expected: Uint8Array): VerificationKey {
  const matches = args.provider.timingSafeEqual(expected, args.presented);
  if (!key) throw new KeyUnknown('no key with this key id');
  if (!matches) throw new SignatureInvalid('signature does not match');
  return key;
}

/**
 * A scheme's verify() without the promise: answers synchronously when the key resolver and the
 * crypto provider do (an in-memory key cache and node:crypto on a server), so the core's own
 * schemes verify a buffered request with one promise instead of one per layer. Internal: the
 * scheme factories register here and the core's verify functions look schemes up.
 */
export type VerifyNow = (
  message: MessageParts,
  options: VerifyOptions,
  hasBody: boolean,
) => SignatureCheck | Promise<SignatureCheck>;

/** The core's own schemes, by instance (a scheme written elsewhere is verified through its verify()). */
export const schemeVerifiers = new WeakMap<Scheme, VerifyNow>();

/**
 * A body check that can take a body already in memory synchronously (the core's own checks):
 * `completeNow(body)` is `complete(body)` that returns nothing when the answer is known at once
 * (throwing `DigestMismatch` or `SignatureInvalid` on a mismatch) and a promise only when the
 * provider is asynchronous. Spares a buffered request the promise and the await of `complete()`.
 */
export interface SyncBodyCheck {
  completeNow(body: Uint8Array): void | Promise<void>;
}

/** Whether `check` is one of the core's body checks with {@link SyncBodyCheck.completeNow}. */
export function hasCompleteNow(check: object): check is SyncBodyCheck {
  return typeof (check as Partial<SyncBodyCheck>).completeNow === 'function';
}
