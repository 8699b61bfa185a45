/**
 * What a SigV4 scheme is configured with: the providers (curl's `provider0:provider1` spellings),
 * the options of `sigv4()` and the sign-time options, validated once into the {@link SigV4Config}
 * that the parser, the verifier and the signer share.
 */
import type { CryptoProvider, VerificationKey } from '../../types.js';
import { printableSecret } from '../compat-support.js';

/** Longest presigned-URL lifetime AWS allows (7 days), and our ceiling. */
export const SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS = 604_800;

/**
 * One provider's spelling of SigV4, derived from curl's `provider0:provider1`:
 * `aws:amz` gives `AWS4-HMAC-SHA256`, key prefix `AWS4`, terminator `aws4_request`,
 * headers `X-Amz-Date` / `x-amz-content-sha256`, query `X-Amz-*`.
 */
export interface SigV4Provider {
  /** `provider0:provider1` as given to curl, e.g. `aws:amz`. */
  readonly spec: string;
  readonly algorithm: string;
  readonly keyPrefix: string;
  readonly terminator: string;
  /** Lower-case header name prefix, e.g. `x-amz-`. */
  readonly headerPrefix: string;
  /** Query parameter prefix, e.g. `X-Amz-`. */
  readonly queryPrefix: string;
}

/**
 * Parses curl's `provider0[:provider1]` syntax into the names SigV4 uses.
 *
 * @example
 * ```ts
 * sigv4Provider('hmackit').algorithm; // 'HMACKIT4-HMAC-SHA256'
 * sigv4Provider('aws:amz').headerPrefix; // 'x-amz-'
 * ```
 */
export function sigv4Provider(spec: string): SigV4Provider {
  const match = /^([A-Za-z0-9]{1,64})(?::([A-Za-z0-9]{1,64}))?$/.exec(spec);
  if (!match) throw new TypeError(`invalid SigV4 provider ${JSON.stringify(spec)} (expected e.g. "aws:amz")`);
  const provider0 = match[1]!;
  const provider1 = (match[2] ?? provider0).toLowerCase();
  const mid = provider1[0]!.toUpperCase() + provider1.slice(1);
  return Object.freeze({
    spec: `${provider0.toLowerCase()}:${provider1}`,
    algorithm: `${provider0.toUpperCase()}4-HMAC-SHA256`,
    keyPrefix: `${provider0.toUpperCase()}4`,
    terminator: `${provider0.toLowerCase()}4_request`,
    headerPrefix: `x-${provider1}-`,
    queryPrefix: `X-${mid}-`,
  });
}

/** Options of the `sigv4()` scheme. */
export interface SigV4Options {
  /** Accepted providers in curl's syntax; the first one signs. Default `['aws:amz', 'hmackit:hmackit']`. */
  providers?: readonly string[];
  /** Accepted regions; `'any'` (default) accepts every region. The signer uses the first listed, else `us-east-1`. */
  regions?: readonly string[] | 'any';
  /** Accepted service names; the first one signs. Default `['hmac-kit']`. */
  services?: readonly string[];
  /** Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body is then not authenticated). Default false. */
  allowUnsignedPayload?: boolean;
  /** Accept presigned URLs. Default true. */
  allowPresigned?: boolean;
  /** Largest accepted `X-Amz-Expires`. Default and maximum 604800 (7 days). */
  maxPresignedExpiresSeconds?: number;
  /**
   * Also accept the path and query exactly as sent, as curl before 8.0 signs them
   * (curl issue 9717). Tried only after the canonical forms failed. Default true.
   */
  acceptUnsortedQuery?: boolean;
  /**
   * The secret string SigV4 keys its HMAC chain with. Default: the printable
   * `hks_...` form of the key's raw secret (what `--user KEYID:SECRET` passes).
   * Must depend only on `key.secret`: derived signing keys are cached per secret.
   */
  secretOf?: (key: VerificationKey) => string;
}

/** Sign-time options of the SigV4 scheme. */
export interface SigV4SignOptions {
  crypto?: CryptoProvider;
  now?: () => number;
  region?: string;
  service?: string;
  /** Provider spec (`aws:amz`, `hmackit`); default the scheme's first. */
  provider?: string;
  /** Produce a presigned URL valid this many seconds instead of an Authorization header. */
  presignExpiresInSeconds?: number;
  /** Extra request headers to sign (`host`, the date and `content-type` are always signed when present). */
  signedHeaders?: readonly string[];
  /** Send `UNSIGNED-PAYLOAD` instead of the body hash. */
  unsignedPayload?: boolean;
}

/** A provider's header names, e.g. `x-amz-date` and `x-amz-content-sha256`. */
export interface ProviderHeaderNames {
  date: string;
  contentSha: string;
}

/** {@link SigV4Options} checked and with every default filled in. */
export interface SigV4Config {
  /** Accepted providers; the first one signs. */
  readonly providers: readonly SigV4Provider[];
  /** `ALGORITHM ` (with the space) per provider, in the order of `providers`. */
  readonly headerPrefixes: readonly string[];
  /** The header names of each provider, built once instead of per request. */
  readonly namesOf: ReadonlyMap<SigV4Provider, ProviderHeaderNames>;
  readonly regions: readonly string[] | 'any';
  readonly services: readonly string[];
  readonly maxPresigned: number;
  readonly allowUnsignedPayload: boolean;
  readonly allowPresigned: boolean;
  readonly acceptUnsortedQuery: boolean;
  readonly secretOf: (key: VerificationKey) => string;
}

/**
 * The default `secretOf`: the printable `hks_...` form of the key's raw secret. Verifiers that use
 * it derive the same signing keys, so they share them (in the secret's prepared key material).
 */
export function printableSecretOf(key: VerificationKey): string {
  return printableSecret(key.secret);
}

/**
 * Checks the options of `sigv4()` (a `TypeError` for each misuse) and fills in the defaults.
 *
 * @example
 * ```ts
 * resolveSigV4Options({ regions: ['eu-west-1'] }).services; // ['hmac-kit']
 * ```
 */
export function resolveSigV4Options(options: SigV4Options): SigV4Config {
  if (options === null || typeof options !== 'object') throw new TypeError('sigv4: options must be an object');
  const providers = (options.providers ?? ['aws:amz', 'hmackit:hmackit']).map(sigv4Provider);
  if (providers.length === 0) throw new TypeError('sigv4: providers must not be empty');
  const regions = options.regions ?? 'any';
  if (regions !== 'any' && (!Array.isArray(regions) || regions.length === 0 || regions.some((r) => !r))) {
    throw new TypeError("sigv4: regions must be 'any' or a non-empty list");
  }
  const services = options.services ?? ['hmac-kit'];
  if (!Array.isArray(services) || services.length === 0 || services.some((s) => typeof s !== 'string' || !s)) {
    throw new TypeError('sigv4: services must be a non-empty list of names');
  }
  const maxPresigned = options.maxPresignedExpiresSeconds ?? SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS;
  if (!Number.isInteger(maxPresigned) || maxPresigned < 1 || maxPresigned > SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS) {
    throw new TypeError('sigv4: maxPresignedExpiresSeconds must be an integer in 1..604800');
  }
  const allowUnsignedPayload = options.allowUnsignedPayload ?? false;
  const allowPresigned = options.allowPresigned ?? true;
  const acceptUnsortedQuery = options.acceptUnsortedQuery ?? true;
  const secretOf = options.secretOf ?? printableSecretOf;

  // `ALGORITHM ` and the header names per provider, built once instead of per request.
  const headerPrefixes = providers.map((p) => `${p.algorithm} `);
  const namesOf = new Map<SigV4Provider, ProviderHeaderNames>(
    providers.map((p) => [p, { date: `${p.headerPrefix}date`, contentSha: `${p.headerPrefix}content-sha256` }]),
  );
  return {
    providers,
    headerPrefixes,
    namesOf,
    regions,
    services,
    maxPresigned,
    allowUnsignedPayload,
    allowPresigned,
    acceptUnsortedQuery,
    secretOf,
  };
}
