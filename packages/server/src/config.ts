import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { DeclarativeSchemeDefinition } from '@hmac-kit/core';
import { isPlausibleKeyId, looksLikeSecret } from '@hmac-kit/keys';
import { legacySchemesSchema, parseLegacySchemes } from './legacy-schemes.js';
import { DEFAULT_LOG_MAX_BUFFER_BYTES, MIN_LOG_MAX_BUFFER_BYTES } from './logger.js';
import { parseRedisUrl } from './redis-url.js';
import { DEFAULT_DATABASE } from './store.js';
import { tracingRequested } from './tracing.js';
import { parseByteSize, parseDuration, parseRateLimit } from './units.js';
import { z } from './zod-runtime.js';

/** Schemes `hmac-kit serve` can enable (`--schemes`). */
export const SCHEME_NAMES = ['rfc9421', 'sigv4', 'x-api', 'django-hmac', 'standard-webhooks'] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

export { DEFAULT_DATABASE };

/** The validated configuration `hmac-kit serve` runs with. Durations are seconds, sizes bytes. */
export interface ServerConfig {
  port: number;
  host: string;
  /** `postgres://...` URL or a SQLite file path (`:memory:` for tests). */
  database: string;
  redis?: string;
  /** `HMAC_KIT_MASTER_KEYS` format understood by @hmac-kit/keys (`id:base64,...`). */
  masterKeys?: string;
  masterKeyFile?: string;
  /** Addresses or CIDR ranges whose X-Forwarded-* / X-Original-* headers are believed. */
  trustedProxies: string[];
  /** The origin clients sign for (`https://api.example.com/prefix`), when a proxy rewrites Host or strips a prefix. */
  publicOrigin?: string;
  schemes: SchemeName[];
  /**
   * The key that verifies every Standard Webhooks delivery (one sender per deployment). Unset: each
   * delivery names its key in a `webhook-key-id` header.
   */
  webhookKeyId?: string;
  maxAgeSeconds: number;
  clockSkewSeconds: number;
  requireNonce: boolean;
  rateLimit: { limit: number; windowSeconds: number };
  maxBodyBytes: number;
  upstream?: string;
  upstreamTimeoutSeconds: number;
  /**
   * The gateway's HTTP client to its upstream: `auto` (the default: `builtin` for a plain-http
   * upstream without tracing when node's internal parser passes its self-test, else `undici`;
   * upstream/choose.ts), `undici`, or `builtin` (hmac-kit's own HTTP/1.1 client on node's C++
   * parser, packages/server/src/upstream/).
   */
  upstreamClient: 'auto' | 'undici' | 'builtin';
  /**
   * Whether the gateway forwards a GET or HEAD request that carries a body (`Content-Length` above
   * 0, or any `Transfer-Encoding`). Default false: such a request is refused `400 body_not_allowed`
   * before it is verified, since an upstream that reads no body on a GET parses the body as a second,
   * unverified request on the connection (request smuggling, RFC 9110 §9.3.1). Only for upstreams
   * that read (or reject) GET bodies themselves.
   */
  upstreamAllowGetBody: boolean;
  /**
   * How long an idle HTTP/1.1 keep-alive connection stays open. Longer than the idle timeout of the
   * proxy or load balancer in front (nginx's upstream `keepalive_timeout` and an AWS ALB's both
   * default to 60 s): a server that closes first races the proxy reusing the connection, which
   * then fails a request with a reset (nginx logs it, an ALB answers 502).
   */
  keepAliveTimeoutSeconds: number;
  /**
   * How long a connection may take to send a complete request head (request line and header
   * fields), from its first byte or, for a first request, from the connection's start (after the
   * TLS handshake, which has the same bound of its own). Past it the connection is closed (a
   * slowloris client trickling header bytes, or one that never sends any). The body is not
   * covered: see `requestTimeout` in listener.ts.
   */
  headersTimeoutSeconds: number;
  /**
   * Open client connections per process (each worker of `--workers` has its own); a connection
   * beyond it is closed as soon as it is accepted. Default: see {@link defaultMaxConnections}.
   */
  maxConnections: number;
  /**
   * Open client connections per peer address (the socket's, never `X-Forwarded-For`: connections
   * are counted before any header arrives; IPv6 peers counted per /64), per process. Peers in
   * `trustedProxies` are exempt: a proxy in front carries every client. Default: a quarter of
   * {@link maxConnections}, so one address alone cannot take every slot.
   */
  maxConnectionsPerAddress: number;
  /**
   * Most unexpired nonces the memory nonce store holds (without `redis`): per process, or per
   * supervisor for all its workers (`--workers`). A request that would need one more is refused
   * `503 store_unavailable` (fail closed: an evicted nonce could be replayed) until entries expire.
   * Size it above peak signed requests per second x (max age + clock skew). Default
   * {@link DEFAULT_NONCE_CAPACITY}; unset in a hand-made config: the default.
   */
  nonceCapacity?: number;
  verifyPath: string;
  /**
   * Prefix of hmac-kit's own routes (health, metrics, forward-auth, key issuing, admin API), or `''`
   * for none. Defaults to `/_hmac-kit` in gateway mode so they never shadow the upstream's paths.
   */
  adminPrefix: string;
  maxKeysPerPrincipal: number;
  /**
   * Password hashes (logins) running at once; further logins get 503 with `Retry-After` before any
   * hashing. Default: the number of available cores.
   */
  loginConcurrency: number;
  /** Overlap kept valid for the old key when rotating through the admin API. */
  rotateOverlapSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * The most log bytes held in memory while stdout takes none (its reader stopped reading): lines
   * logged beyond it are dropped, whole, counted in `hmac_kit_log_lines_dropped_total`, and one
   * warn line says how many once stdout takes bytes again. 0: no bound. Default 16 MiB
   * ({@link DEFAULT_LOG_MAX_BUFFER_BYTES}); unset in a hand-made config: the default.
   */
  logMaxBufferBytes?: number;
  shutdownTimeoutSeconds: number;
  /**
   * Seconds between SIGTERM and closing the listeners, during which `/readyz` answers 503 so load
   * balancers stop sending new requests while the listeners still serve them. 0 = none.
   */
  drainPeriodSeconds: number;
  /** PEM certificate chain and private key files: HTTPS (HTTP/1.1 and HTTP/2 by ALPN) instead of HTTP. */
  tls?: { certFile: string; keyFile: string; minVersion: TlsVersion };
  /** Worker processes sharing the port (`undefined` = one per available core). */
  workers?: number;
  /** Enables `POST /v1/keys` (username + password issuing endpoint). */
  issuing: boolean;
  /**
   * django-hmac: the client chooses SHA-256/384/512 per request, as django_hmac_authentication does,
   * for keys from `/obtain-hmac-api-key/` and imported django keys (stored with algorithm `any`).
   * Default true. Keys from `keys create` stay bound to their algorithm either way.
   */
  djangoAnyAlgorithm: boolean;
  /**
   * Declarative schemes of existing home-made HMAC clients (config file key `legacySchemes`), enabled
   * beside `schemes`: see docs/protocol-legacy.md and examples/legacy/.
   */
  legacySchemes?: DeclarativeSchemeDefinition[];
  /**
   * Mismatch diagnostics (`--debug-signatures`): a `signature_invalid` problem carries the server's
   * signature base. `false` (default); `true` only on a loopback bind (refused at start otherwise);
   * `'force'` on any bind (logged as a warning at start). docs/troubleshooting.md#debug-signatures.
   */
  debugSignatures: boolean | 'force';
  /** Serves the admin console at `<adminPrefix>/console`. */
  console: boolean;
  /** A console session ends after this many seconds without a request. */
  consoleIdleTimeoutSeconds: number;
}

/** Lowest TLS protocol version `--tls-min-version` accepts. */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** Where hmac-kit's own routes live in gateway mode unless `adminPrefix` says otherwise. */
export const DEFAULT_GATEWAY_ADMIN_PREFIX = '/_hmac-kit';

/**
 * The default `--nonce-capacity`: the memory nonce store's own default
 * (`MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES` of @hmac-kit/limits), ~3,280 signed requests/s sustained
 * with the default window of 305 s (max age 300 s + skew 5 s), ~50 MB when full.
 */
export const DEFAULT_NONCE_CAPACITY = 1_000_000;

/**
 * The largest `--nonce-capacity`: 100 million entries, ~328,000 signed requests/s sustained with the
 * default window (ten times what one core's forward-auth serves, so above any one machine). The
 * store's typed arrays grow by doubling as entries arrive (48 to 96 bytes per entry,
 * docs/limits.md): full, it holds ~5 to 10 GB, about what a large single host can spare; more is a
 * typo (an extra zero) or a job for Redis. Nothing is allocated for the capacity itself at start.
 */
export const MAX_NONCE_CAPACITY = 100_000_000;

const duration = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    try {
      return parseDuration(value, what);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

/**
 * The longest duration a setting that arms a timer takes: 24 days. `setTimeout` holds at most
 * 2^31-1 ms (~24.8 days); more is a TimeoutOverflowWarning and a 1 ms timer (`--upstream-timeout
 * 30d` timed every gateway request out at once).
 */
const MAX_TIMER_SECONDS = 24 * 86_400;

/** A duration setting used as a timer: at most {@link MAX_TIMER_SECONDS}. */
const timerDuration = (what: string) =>
  duration(what).refine((seconds) => seconds <= MAX_TIMER_SECONDS, {
    message: `invalid ${what}: at most 24d (a timer's range)`,
  });

const byteSize = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    try {
      return parseByteSize(value, what);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

const integer = (what: string, min: number, max: number) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const number = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isInteger(number) || number < min || number > max) {
      ctx.addIssue({ code: 'custom', message: `invalid ${what} ${JSON.stringify(value)}: expected ${min}..${max}` });
      return z.NEVER;
    }
    return number;
  });

const list = z
  .union([z.string(), z.array(z.string())])
  .transform((value) =>
    (Array.isArray(value) ? value : value.split(',')).map((item) => item.trim()).filter((item) => item.length > 0),
  );

const boolean = z.union([z.boolean(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'boolean') return value;
  const lowered = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lowered)) return true;
  if (['0', 'false', 'no', 'off'].includes(lowered)) return false;
  ctx.addIssue({ code: 'custom', message: `invalid boolean ${JSON.stringify(value)}: use true or false` });
  return z.NEVER;
});

const rateLimit = z
  .union([z.string(), z.object({ limit: z.number(), window: z.union([z.string(), z.number()]) })])
  .transform((value, ctx) => {
    try {
      return parseRateLimit(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

function isCidrOrIp(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const prefix = Number(bits);
  return /^\d+$/.test(bits) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128);
}

const schema = z
  .object({
    port: integer('port', 0, 65_535).default(8080),
    host: z.string().min(1).default('127.0.0.1'),
    database: z.string().min(1).default(DEFAULT_DATABASE),
    // redis://, redis+cluster://, redis+sentinel:// (redis-url.ts); the message never echoes a password.
    redis: z
      .string()
      .superRefine((value, ctx) => {
        try {
          parseRedisUrl(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
        }
      })
      .optional(),
    masterKeys: z.string().min(1).optional(),
    masterKeyFile: z.string().min(1).optional(),
    trustedProxies: list
      .refine((entries) => entries.every(isCidrOrIp), {
        message: 'invalid trusted proxies: expected IP addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1',
      })
      .default(['127.0.0.1', '::1']),
    publicOrigin: z
      .string()
      .refine((value) => /^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(value) && URL.canParse(value), {
        message: 'invalid public origin: expected http(s)://host[:port][/prefix]',
      })
      .optional(),
    schemes: list
      .refine(
        (entries) =>
          entries.length > 0 && entries.every((entry) => (SCHEME_NAMES as readonly string[]).includes(entry)),
        {
          message: `invalid schemes: choose from ${SCHEME_NAMES.join(', ')}`,
        },
      )
      .default(['rfc9421', 'sigv4', 'x-api']),
    // Never echoed in the message: a pasted secret must not reach the terminal or logs.
    webhookKeyId: z
      .string()
      .refine((value) => isPlausibleKeyId(value) && !looksLikeSecret(value), {
        message: 'invalid webhook key id: expected a key id such as hk_3nR0bqYJ1xT9dW2mKp7sLa (not a secret)',
      })
      .optional(),
    maxAge: duration('max age').default(300),
    clockSkew: duration('clock skew').default(5),
    requireNonce: boolean.default(true),
    rateLimit: rateLimit.default({ limit: 600, windowSeconds: 60 }),
    maxBody: byteSize('body size limit').default(10 * 1024 * 1024),
    upstream: z
      .string()
      .refine((value) => /^https?:\/\//.test(value) && URL.canParse(value), {
        message: 'invalid upstream: expected an http(s):// URL',
      })
      .optional(),
    upstreamTimeout: timerDuration('upstream timeout').default(30),
    upstreamClient: z
      .enum(['auto', 'undici', 'builtin'], { message: 'invalid upstream client: expected auto, undici or builtin' })
      .default('auto'),
    upstreamAllowGetBody: boolean.default(false),
    // 0 would be Node's "never": idle connections held for ever.
    keepAliveTimeout: duration('keep-alive timeout')
      .refine((seconds) => seconds >= 1 && seconds <= 3600, {
        message: 'invalid keep-alive timeout: between 1s and 1h',
      })
      .default(75),
    // 0 would be Node's "never": a client trickling header bytes held its connection for ever.
    headersTimeout: duration('headers timeout')
      .refine((seconds) => seconds >= 1 && seconds <= 600, {
        message: 'invalid headers timeout: between 1s and 10m',
      })
      .default(30),
    maxConnections: integer('max connections', 1, 1_000_000).optional(),
    maxConnectionsPerAddress: integer('max connections per address', 1, 1_000_000).optional(),
    // Memory grows with the entries held, not with the capacity (see MAX_NONCE_CAPACITY).
    nonceCapacity: integer('nonce capacity', 1, MAX_NONCE_CAPACITY).optional(),
    verifyPath: z
      .string()
      .refine((value) => value.startsWith('/'), { message: 'invalid verify path: must start with /' })
      .default('/verify'),
    // '' or '/' = no prefix; otherwise /segment[/segment...] (trailing slashes dropped).
    adminPrefix: z
      .string()
      .refine((value) => value === '' || /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*\/*$/.test(value), {
        message: 'invalid admin prefix: expected /path (or / for none)',
      })
      .optional(),
    maxKeys: integer('max keys per principal', 1, 100_000).default(10),
    // Each scrypt hash holds 32 MiB and a core for ~100 ms: a few at a time, the rest refused at once.
    loginConcurrency: integer('login concurrency', 1, 1024).optional(),
    rotateOverlap: duration('rotation overlap').default(86_400),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // 0: no bound (sonic-boom's own "no limit"); else room for at least 16 whole 4 KiB log writes.
    logMaxBuffer: byteSize('log buffer limit')
      .refine((bytes) => bytes === 0 || bytes >= MIN_LOG_MAX_BUFFER_BYTES, {
        message: 'invalid log buffer limit: 0 (no limit) or at least 64kb',
      })
      .default(DEFAULT_LOG_MAX_BUFFER_BYTES),
    shutdownTimeout: timerDuration('shutdown timeout').default(10),
    drainPeriod: timerDuration('drain period').default(0),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    tlsMinVersion: z
      .string()
      .transform((value, ctx) => {
        const version = { 'tlsv1.2': 'TLSv1.2', '1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3', '1.3': 'TLSv1.3' }[
          value.trim().toLowerCase()
        ];
        if (version) return version as TlsVersion;
        ctx.addIssue({
          code: 'custom',
          message: `invalid TLS minimum version ${JSON.stringify(value)}: use 1.2 or 1.3`,
        });
        return z.NEVER;
      })
      .default('TLSv1.2'),
    // 'auto' (the default) = one per available core.
    workers: z
      .union([z.string(), z.number()])
      .transform((value, ctx) => {
        if (typeof value === 'string' && value.trim().toLowerCase() === 'auto') return 'auto' as const;
        const count = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
        if (Number.isInteger(count) && count >= 1 && count <= 1024) return count;
        ctx.addIssue({
          code: 'custom',
          message: `invalid worker count ${JSON.stringify(value)}: expected auto or 1..1024`,
        });
        return z.NEVER;
      })
      .optional(),
    issuing: boolean.default(true),
    djangoAnyAlgorithm: boolean.default(true),
    // A bare `--debug-signatures` is true; `--debug-signatures=force` also allows a non-loopback bind.
    debugSignatures: z
      .union([z.boolean(), z.string()])
      .transform((value, ctx) => {
        if (typeof value === 'boolean') return value;
        const lowered = value.trim().toLowerCase();
        if (lowered === 'force') return 'force' as const;
        if (['1', 'true', 'yes', 'on'].includes(lowered)) return true;
        if (['0', 'false', 'no', 'off'].includes(lowered)) return false;
        ctx.addIssue({
          code: 'custom',
          message: `invalid debug signatures ${JSON.stringify(value)}: use true, false or force`,
        });
        return z.NEVER;
      })
      .default(false),
    legacySchemes: legacySchemesSchema.default([]),
    console: boolean.default(true),
    // Short: a console left open on an unattended laptop should not stay an admin for long.
    consoleIdleTimeout: duration('console idle timeout').default(900),
  })
  .strict();

/** Raw settings as they come from flags, environment or file (strings or JSON values). */
export type RawConfig = Partial<Record<keyof z.input<typeof schema>, unknown>>;

/** `HMAC_KIT_*` environment variables and the setting each one feeds. */
export const ENVIRONMENT_VARIABLES: Readonly<Record<string, keyof RawConfig>> = {
  HMAC_KIT_PORT: 'port',
  HMAC_KIT_HOST: 'host',
  HMAC_KIT_DATABASE_URL: 'database',
  HMAC_KIT_REDIS_URL: 'redis',
  HMAC_KIT_MASTER_KEYS: 'masterKeys',
  HMAC_KIT_MASTER_KEY_FILE: 'masterKeyFile',
  HMAC_KIT_TRUSTED_PROXIES: 'trustedProxies',
  HMAC_KIT_PUBLIC_ORIGIN: 'publicOrigin',
  HMAC_KIT_SCHEMES: 'schemes',
  HMAC_KIT_WEBHOOK_KEY_ID: 'webhookKeyId',
  HMAC_KIT_MAX_AGE: 'maxAge',
  HMAC_KIT_CLOCK_SKEW: 'clockSkew',
  HMAC_KIT_REQUIRE_NONCE: 'requireNonce',
  HMAC_KIT_RATE_LIMIT: 'rateLimit',
  HMAC_KIT_MAX_BODY: 'maxBody',
  HMAC_KIT_UPSTREAM: 'upstream',
  HMAC_KIT_UPSTREAM_TIMEOUT: 'upstreamTimeout',
  HMAC_KIT_UPSTREAM_CLIENT: 'upstreamClient',
  HMAC_KIT_UPSTREAM_ALLOW_GET_BODY: 'upstreamAllowGetBody',
  HMAC_KIT_KEEP_ALIVE_TIMEOUT: 'keepAliveTimeout',
  HMAC_KIT_HEADERS_TIMEOUT: 'headersTimeout',
  HMAC_KIT_MAX_CONNECTIONS: 'maxConnections',
  HMAC_KIT_MAX_CONNECTIONS_PER_ADDRESS: 'maxConnectionsPerAddress',
  HMAC_KIT_NONCE_CAPACITY: 'nonceCapacity',
  HMAC_KIT_VERIFY_PATH: 'verifyPath',
  HMAC_KIT_ADMIN_PREFIX: 'adminPrefix',
  HMAC_KIT_MAX_KEYS: 'maxKeys',
  HMAC_KIT_LOGIN_CONCURRENCY: 'loginConcurrency',
  HMAC_KIT_ROTATE_OVERLAP: 'rotateOverlap',
  HMAC_KIT_LOG_LEVEL: 'logLevel',
  HMAC_KIT_LOG_MAX_BUFFER: 'logMaxBuffer',
  HMAC_KIT_SHUTDOWN_TIMEOUT: 'shutdownTimeout',
  HMAC_KIT_DRAIN_PERIOD: 'drainPeriod',
  HMAC_KIT_TLS_CERT: 'tlsCert',
  HMAC_KIT_TLS_KEY: 'tlsKey',
  HMAC_KIT_TLS_MIN_VERSION: 'tlsMinVersion',
  HMAC_KIT_WORKERS: 'workers',
  HMAC_KIT_ISSUING: 'issuing',
  HMAC_KIT_DJANGO_ANY_ALGORITHM: 'djangoAnyAlgorithm',
  HMAC_KIT_DEBUG_SIGNATURES: 'debugSignatures',
  HMAC_KIT_CONSOLE: 'console',
  HMAC_KIT_CONSOLE_IDLE_TIMEOUT: 'consoleIdleTimeout',
};

/** The default `--max-connections` where the open-file limit allows it (see {@link defaultMaxConnections}). */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/**
 * The default `--max-connections` of one process: {@link DEFAULT_MAX_CONNECTIONS}, or half of the
 * process's open-file limit when that is lower. Why 4096: an idle connection costs the process
 * memory (~9-11 KB in plain HTTP, ~48 KB over TLS, HTTP/1.1 or HTTP/2, measured with
 * `node bench/connection-memory.js`), so the default bounds what clients can make one process hold
 * at ~200 MB over TLS, while staying far above what a proxy in front or a fleet of API clients
 * keeps open (nginx's `keepalive 16`, a few pooled connections per client). Why half the limit:
 * every client connection takes a file descriptor, and the process needs the rest for what it
 * opens itself (the gateway's upstream connections, one per request in flight, the database,
 * Redis, logs) and for the connections it refuses, which take one each for the instant before they
 * are closed: a cap at the limit itself would turn refusals into EMFILE errors on accept. The limit
 * is the soft `RLIMIT_NOFILE` Node runs with (Node raises it to the hard limit as it starts), read
 * from `/proc/self/limits`; where that file does not exist (not Linux), {@link DEFAULT_MAX_CONNECTIONS}.
 *
 * @example
 * ```ts
 * defaultMaxConnections('Max open files            1024                 1024                 files'); // 512
 * ```
 */
export function defaultMaxConnections(limits?: string): number {
  let text = limits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return DEFAULT_MAX_CONNECTIONS;
    }
  }
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1];
  if (soft === undefined || soft === 'unlimited') return DEFAULT_MAX_CONNECTIONS;
  return Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS, Math.floor(Number(soft) / 2)));
}

/** A configuration problem, reported as one line (`hmac-kit: config: ...`). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Whether `host` only accepts connections from this machine: `localhost`, 127.0.0.0/8, `::1`
 * (also IPv4-mapped). `0.0.0.0`, `::` and every other address are reachable from elsewhere.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost('0.0.0.0'); // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

function readConfigFile(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as RawConfig;
}

/**
 * Where a refused setting came from, when not from a flag (which the user just typed): ` (from
 * HMAC_KIT_PORT)` or ` (from serve.json)`, so a forgotten export or file entry is found. Names only.
 */
function originOf(
  key: PropertyKey | undefined,
  fromFlags: RawConfig,
  fromEnv: RawConfig,
  sources: { env?: Record<string, string | undefined>; configFile?: string },
): string {
  if (typeof key !== 'string' || key in fromFlags) return '';
  if (key in fromEnv) {
    const variable = Object.entries(ENVIRONMENT_VARIABLES).find(
      ([name, setting]) => setting === key && sources.env?.[name] !== undefined && sources.env[name] !== '',
    )?.[0];
    return variable === undefined ? '' : ` (from ${variable})`;
  }
  return sources.configFile === undefined ? '' : ` (from ${sources.configFile})`;
}

/**
 * Builds the serve configuration: command-line flags win over `HMAC_KIT_*` environment
 * variables, which win over the JSON config file, which wins over defaults. Throws a
 * {@link ConfigError} with one clear line on the first invalid setting.
 *
 * @example
 * ```ts
 * const config = loadConfig({ flags: { port: '0' }, env: process.env });
 * ```
 */
export function loadConfig(sources: {
  flags?: RawConfig;
  env?: Record<string, string | undefined>;
  configFile?: string;
}): ServerConfig {
  const fromFile = sources.configFile ? readConfigFile(sources.configFile) : {};
  const fromEnv: RawConfig = {};
  for (const [variable, setting] of Object.entries(ENVIRONMENT_VARIABLES)) {
    const value = sources.env?.[variable];
    if (value !== undefined && value !== '') fromEnv[setting] = value;
  }
  const fromFlags: RawConfig = {};
  for (const [setting, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) fromFlags[setting as keyof RawConfig] = value;
  }
  const parsed = schema.safeParse({ ...fromFile, ...fromEnv, ...fromFlags });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    const message =
      issue?.code === 'unrecognized_keys'
        ? `unknown setting ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`
        : issue?.message?.startsWith('invalid')
          ? issue.message
          : `invalid ${path || 'setting'}: ${issue?.message ?? 'unknown problem'}`;
    throw new ConfigError(`${message}${originOf(issue?.path[0], fromFlags, fromEnv, sources)}`);
  }
  const value = parsed.data;
  const legacy = parseLegacySchemes(value.legacySchemes, value.schemes);
  if (legacy.mistakes.length > 0) throw new ConfigError(legacy.mistakes.join('\n'));
  if (value.webhookKeyId !== undefined && !value.schemes.includes('standard-webhooks')) {
    throw new ConfigError('webhook key id is set but standard-webhooks is not among the enabled schemes');
  }
  if (value.debugSignatures === true && !isLoopbackHost(value.host)) {
    throw new ConfigError(
      `debug signatures refused on host ${value.host} (not loopback): every client could see how requests are canonicalised; bind 127.0.0.1, or use --debug-signatures=force (HMAC_KIT_DEBUG_SIGNATURES=force)`,
    );
  }
  // A loopback bind behind a reverse proxy on the same machine is still a public endpoint: the public
  // origin clients sign for says so.
  const publicHost = value.publicOrigin === undefined ? undefined : new URL(value.publicOrigin).hostname;
  if (value.debugSignatures === true && publicHost !== undefined && !isLoopbackHost(publicHost)) {
    throw new ConfigError(
      `debug signatures refused with public origin ${value.publicOrigin} (not loopback): clients reach this server through a proxy and every one could see how requests are canonicalised; use --debug-signatures=force (HMAC_KIT_DEBUG_SIGNATURES=force) to allow it`,
    );
  }
  // The builtin client has no OpenTelemetry instrumentation (no client span, no traceparent sent
  // upstream): refused rather than traced without the upstream call.
  if (value.upstreamClient === 'builtin' && tracingRequested(sources.env ?? {})) {
    throw new ConfigError(
      '--upstream-client builtin is not traced: unset OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_SDK_DISABLED=true), or use --upstream-client undici',
    );
  }
  // With Redis the nonces live in Redis, bounded by its memory: a capacity given for the memory
  // store would be silently ignored, and an operator would believe it bounds something.
  if (value.redis !== undefined && value.nonceCapacity !== undefined) {
    throw new ConfigError(
      'nonce capacity (--nonce-capacity, HMAC_KIT_NONCE_CAPACITY) sizes the memory nonce store and does not apply with --redis (nonces live in Redis: size its memory, docs/server.md "Redis sizing"); unset one of them',
    );
  }
  const maxConnections = value.maxConnections ?? defaultMaxConnections();
  if ((value.tlsCert === undefined) !== (value.tlsKey === undefined)) {
    throw new ConfigError('TLS needs both a certificate (--tls-cert) and its private key (--tls-key)');
  }
  return {
    port: value.port,
    host: value.host,
    database: value.database,
    redis: value.redis,
    masterKeys: value.masterKeys,
    masterKeyFile: value.masterKeyFile,
    trustedProxies: value.trustedProxies,
    publicOrigin: value.publicOrigin?.replace(/\/+$/, ''),
    schemes: [...new Set(value.schemes)] as SchemeName[],
    webhookKeyId: value.webhookKeyId,
    maxAgeSeconds: value.maxAge,
    clockSkewSeconds: value.clockSkew,
    requireNonce: value.requireNonce,
    rateLimit: value.rateLimit,
    maxBodyBytes: value.maxBody,
    upstream: value.upstream,
    upstreamTimeoutSeconds: value.upstreamTimeout,
    upstreamClient: value.upstreamClient,
    upstreamAllowGetBody: value.upstreamAllowGetBody,
    keepAliveTimeoutSeconds: value.keepAliveTimeout,
    headersTimeoutSeconds: value.headersTimeout,
    maxConnections,
    maxConnectionsPerAddress: value.maxConnectionsPerAddress ?? Math.ceil(maxConnections / 4),
    ...(value.redis === undefined ? { nonceCapacity: value.nonceCapacity ?? DEFAULT_NONCE_CAPACITY } : {}),
    verifyPath: value.verifyPath,
    adminPrefix: (value.adminPrefix ?? (value.upstream ? DEFAULT_GATEWAY_ADMIN_PREFIX : '')).replace(/\/+$/, ''),
    maxKeysPerPrincipal: value.maxKeys,
    loginConcurrency: value.loginConcurrency ?? availableParallelism(),
    rotateOverlapSeconds: value.rotateOverlap,
    logLevel: value.logLevel,
    logMaxBufferBytes: value.logMaxBuffer,
    shutdownTimeoutSeconds: value.shutdownTimeout,
    drainPeriodSeconds: value.drainPeriod,
    tls:
      value.tlsCert !== undefined && value.tlsKey !== undefined
        ? { certFile: value.tlsCert, keyFile: value.tlsKey, minVersion: value.tlsMinVersion }
        : undefined,
    workers: value.workers === 'auto' ? undefined : value.workers,
    issuing: value.issuing,
    djangoAnyAlgorithm: value.djangoAnyAlgorithm,
    debugSignatures: value.debugSignatures,
    legacySchemes: legacy.definitions,
    console: value.console,
    consoleIdleTimeoutSeconds: value.consoleIdleTimeout,
  };
}
