/**
 * Login passwords for the key issuing endpoint: scrypt (node:crypto) with a per-password
 * salt; the cost parameters are stored with the hash so they can be raised later.
 * Format: `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>`.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost parameters. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** OWASP-recommended minimum for scrypt (N=2^15, r=8, p=1: ~32 MiB, tens of ms). */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ N: 32768, r: 8, p: 1 });
const HASH_BYTES = 32;
const SALT_BYTES = 16;
const MAX_PASSWORD_BYTES = 1024;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      HASH_BYTES,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

function checkParams(params: ScryptParams): void {
  const { N, r, p } = params;
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20)
    throw new TypeError('scrypt N must be a power of two up to 2^20');
  if (!Number.isInteger(r) || r < 1 || r > 32) throw new TypeError('scrypt r must be 1-32');
  if (!Number.isInteger(p) || p < 1 || p > 16) throw new TypeError('scrypt p must be 1-16');
}

/**
 * A password hashPassword takes: a non-empty string of at most 1024 UTF-8 bytes, else a TypeError.
 * Exported so that callers (the CLI) refuse one before they open a store.
 */
export function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length === 0) throw new TypeError('password must be a non-empty string');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new TypeError('password is too long');
  return password;
}

/**
 * Hashes a password with a fresh salt.
 *
 * @example
 * ```ts
 * const stored = await hashPassword('correct horse battery staple');
 * ```
 */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  checkPassword(password);
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

function parse(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const params = { N: Number(parts[1]), r: Number(parts[2]), p: Number(parts[3]) };
  try {
    checkParams(params);
  } catch {
    return undefined;
  }
  const salt = Buffer.from(parts[4]!, 'base64url');
  const hash = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || hash.length !== HASH_BYTES) return undefined;
  return { params, salt, hash };
}

/**
 * Checks a password against a stored hash in constant time. With `stored` undefined (unknown
 * user, no password set) it still runs scrypt on a dummy hash with the default cost, so the
 * answer takes the same time whether or not the account exists.
 *
 * @example
 * ```ts
 * const ok = await verifyPasswordHash(row?.passwordHash ?? undefined, submitted);
 * ```
 */
export async function verifyPasswordHash(
  stored: string | null | undefined,
  password: string,
  dummyParams: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<boolean> {
  const parsed = stored ? parse(stored) : undefined;
  const target = parsed ?? (await dummy(dummyParams));
  const candidate = typeof password === 'string' && Buffer.byteLength(password) <= MAX_PASSWORD_BYTES ? password : '';
  const derived = await derive(candidate, target.salt, target.params);
  const equal = timingSafeEqual(derived, target.hash);
  return parsed !== undefined && equal && candidate.length > 0;
}

const dummyHashes = new Map<string, Promise<{ params: ScryptParams; salt: Buffer; hash: Buffer }>>();
function dummy(params: ScryptParams): Promise<{ params: ScryptParams; salt: Buffer; hash: Buffer }> {
  const id = `${params.N},${params.r},${params.p}`;
  let hash = dummyHashes.get(id);
  if (!hash) {
    hash = hashPassword(randomBytes(18).toString('base64url'), params).then((text) => parse(text)!);
    dummyHashes.set(id, hash);
  }
  return hash;
}
