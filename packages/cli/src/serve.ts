import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import type { ListeningInfo, RawConfig, ServerConfig } from '@hmac-kit/server';
import type { Command } from 'commander';
import { CliError, type Io } from './output.js';

/** Flags of `hmac-kit serve` and the config setting each one sets. */
const SERVE_FLAGS: ReadonlyArray<[flag: string, setting: keyof RawConfig, help: string]> = [
  ['--port <port>', 'port', 'port to listen on (default 8080; 0 picks a free one) [HMAC_KIT_PORT]'],
  ['--host <host>', 'host', 'address to bind (default 127.0.0.1) [HMAC_KIT_HOST]'],
  [
    '--redis <url>',
    'redis',
    'redis://host:port, redis+cluster://h1:p1,h2:p2 or redis+sentinel://h1:p1,h2:p2/master (nonces, rate limits, cache invalidation) [HMAC_KIT_REDIS_URL]',
  ],
  [
    '--master-keys <keys>',
    'masterKeys',
    'master keys id:base64,... (newest last; visible in the process list: prefer HMAC_KIT_MASTER_KEYS or --master-key-file)',
  ],
  ['--master-key-file <file>', 'masterKeyFile', 'master key file [HMAC_KIT_MASTER_KEY_FILE]'],
  [
    '--trusted-proxies <list>',
    'trustedProxies',
    'IPs/CIDRs whose X-Forwarded-* headers are believed (default loopback) [HMAC_KIT_TRUSTED_PROXIES]',
  ],
  [
    '--public-origin <url>',
    'publicOrigin',
    'origin (and path prefix) clients sign for, e.g. https://api.example.com/v2 [HMAC_KIT_PUBLIC_ORIGIN]',
  ],
  [
    '--schemes <list>',
    'schemes',
    'enabled schemes: rfc9421,sigv4,x-api,django-hmac,standard-webhooks (default rfc9421,sigv4,x-api) [HMAC_KIT_SCHEMES]',
  ],
  [
    '--webhook-key-id <id>',
    'webhookKeyId',
    'key that verifies every Standard Webhooks delivery (default: the webhook-key-id header names it) [HMAC_KIT_WEBHOOK_KEY_ID]',
  ],
  ['--max-age <duration>', 'maxAge', 'oldest accepted signature (default 5m) [HMAC_KIT_MAX_AGE]'],
  ['--clock-skew <duration>', 'clockSkew', 'tolerated client clock lead (default 5s) [HMAC_KIT_CLOCK_SKEW]'],
  ['--require-nonce <bool>', 'requireNonce', 'require a nonce (default true) [HMAC_KIT_REQUIRE_NONCE]'],
  ['--rate-limit <n/window>', 'rateLimit', 'default per-key rate limit (default 600/1m) [HMAC_KIT_RATE_LIMIT]'],
  ['--max-body <size>', 'maxBody', 'largest accepted body (default 10mb) [HMAC_KIT_MAX_BODY]'],
  ['--upstream <url>', 'upstream', 'gateway mode: forward verified requests to this URL [HMAC_KIT_UPSTREAM]'],
  [
    '--upstream-timeout <duration>',
    'upstreamTimeout',
    'upstream response timeout (default 30s) [HMAC_KIT_UPSTREAM_TIMEOUT]',
  ],
  [
    '--upstream-client <client>',
    'upstreamClient',
    "gateway mode: the HTTP client to the upstream: auto (builtin for an http:// upstream without tracing if node's internal parser passes its start-up self-test, else undici), undici, or builtin (hmac-kit's own HTTP/1.1 client on node's parser; not with tracing) (default auto) [HMAC_KIT_UPSTREAM_CLIENT]",
  ],
  [
    '--upstream-allow-get-body <bool>',
    'upstreamAllowGetBody',
    'gateway mode: forward a GET/HEAD that carries a body, only for an upstream that reads such bodies; otherwise refused 400 body_not_allowed (request smuggling) (default false) [HMAC_KIT_UPSTREAM_ALLOW_GET_BODY]',
  ],
  [
    '--keep-alive-timeout <duration>',
    'keepAliveTimeout',
    'idle HTTP/1.1 keep-alive connections close after this; keep it above the idle timeout of the proxy in front (default 75s) [HMAC_KIT_KEEP_ALIVE_TIMEOUT]',
  ],
  [
    '--headers-timeout <duration>',
    'headersTimeout',
    'a connection that has not sent a complete request head within this is closed (slow clients; TLS handshakes get the same bound) (default 30s) [HMAC_KIT_HEADERS_TIMEOUT]',
  ],
  [
    '--max-connections <n>',
    'maxConnections',
    'open client connections per process (per worker with --workers); more are closed at once (default 4096, or half the open-file limit if lower) [HMAC_KIT_MAX_CONNECTIONS]',
  ],
  [
    '--max-connections-per-address <n>',
    'maxConnectionsPerAddress',
    'open connections per peer address (IPv6 per /64, and 4x per /48; --trusted-proxies exempt) per process (default a quarter of --max-connections) [HMAC_KIT_MAX_CONNECTIONS_PER_ADDRESS]',
  ],
  [
    '--nonce-capacity <n>',
    'nonceCapacity',
    'without --redis: most unexpired nonces held in memory (per process, or shared by --workers); one more request gets 503 store_unavailable until entries expire; size above peak signed req/s x (max-age + clock-skew), ~50-100 bytes each (default 1000000 = ~3,280 req/s with the default window; 1 to 100000000) [HMAC_KIT_NONCE_CAPACITY]',
  ],
  ['--verify-path <path>', 'verifyPath', 'forward-auth endpoint (default /verify) [HMAC_KIT_VERIFY_PATH]'],
  [
    '--admin-prefix <path>',
    'adminPrefix',
    "prefix of hmac-kit's own routes (default /_hmac-kit with --upstream, none otherwise; / for none) [HMAC_KIT_ADMIN_PREFIX]",
  ],
  ['--max-keys <n>', 'maxKeys', 'active keys per principal (default 10) [HMAC_KIT_MAX_KEYS]'],
  [
    '--login-concurrency <n>',
    'loginConcurrency',
    'password hashes (logins) at once; more get 503 + Retry-After before hashing (default: cores) [HMAC_KIT_LOGIN_CONCURRENCY]',
  ],
  [
    '--rotate-overlap <duration>',
    'rotateOverlap',
    'how long a rotated key stays valid (default 24h) [HMAC_KIT_ROTATE_OVERLAP]',
  ],
  ['--log-level <level>', 'logLevel', 'fatal|error|warn|info|debug|trace|silent (default info) [HMAC_KIT_LOG_LEVEL]'],
  [
    '--log-max-buffer <size>',
    'logMaxBuffer',
    'most log bytes held while stdout takes none; beyond it lines are dropped and counted (default 16mb, 0 = no limit) [HMAC_KIT_LOG_MAX_BUFFER]',
  ],
  [
    '--shutdown-timeout <duration>',
    'shutdownTimeout',
    'after the drain period: bound on in-flight requests and closing the stores, then exit (default 10s) [HMAC_KIT_SHUTDOWN_TIMEOUT]',
  ],
  [
    '--drain-period <duration>',
    'drainPeriod',
    'on SIGTERM, answer 503 on /readyz this long while still serving, before closing the listener (default 0s) [HMAC_KIT_DRAIN_PERIOD]',
  ],
  [
    '--tls-cert <file>',
    'tlsCert',
    'PEM certificate chain: serve HTTPS, HTTP/2 by ALPN; SIGHUP reloads it [HMAC_KIT_TLS_CERT]',
  ],
  ['--tls-key <file>', 'tlsKey', 'PEM private key of --tls-cert [HMAC_KIT_TLS_KEY]'],
  [
    '--tls-min-version <version>',
    'tlsMinVersion',
    'oldest TLS version accepted: 1.2 or 1.3 (default 1.2) [HMAC_KIT_TLS_MIN_VERSION]',
  ],
  [
    '--workers <n>',
    'workers',
    'worker processes sharing the port, or auto = one per available core (default auto) [HMAC_KIT_WORKERS]',
  ],
  ['--issuing <bool>', 'issuing', 'serve POST /v1/keys (default true) [HMAC_KIT_ISSUING]'],
  [
    '--django-any-algorithm <bool>',
    'djangoAnyAlgorithm',
    'django-hmac: the client chooses SHA-256/384/512 for keys from /obtain-hmac-api-key/ and imported django keys (default true) [HMAC_KIT_DJANGO_ANY_ALGORITHM]',
  ],
  [
    '--debug-signatures [mode]',
    'debugSignatures',
    'refused requests get the server signature base, for `request -v` (loopback binds only; =force for any bind) (default off) [HMAC_KIT_DEBUG_SIGNATURES]',
  ],
  [
    '--console <bool>',
    'console',
    'serve the admin console at <admin prefix>/console (default true) [HMAC_KIT_CONSOLE]',
  ],
  [
    '--console-idle-timeout <duration>',
    'consoleIdleTimeout',
    'a console session ends after this long without a request (default 15m) [HMAC_KIT_CONSOLE_IDLE_TIMEOUT]',
  ],
];

function camel(flag: string): string {
  const name = /^--([a-z-]+)/.exec(flag)?.[1] ?? '';
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * How the user runs this command, for hints they can paste: `npx hmac-kit` under npx or where a
 * project installed it, `hmac-kit` when the bin is on PATH (a global install), else
 * `node <path of the script>` (a clone without `npm ci`, or a copied folder).
 *
 * @example
 * ```ts
 * invokedAs(['/usr/bin/node', '/usr/local/bin/hmac-kit'], process.env, '/srv'); // 'hmac-kit'
 * ```
 */
export function invokedAs(argv: readonly string[], env: Record<string, string | undefined>, cwd: string): string {
  const script = argv[1] ? resolve(cwd, argv[1]) : '';
  // npx running the package from its cache (nothing installed in the project).
  if (script.split(sep).includes('_npx')) return 'npx hmac-kit';
  // Under `npm run`, PATH has node_modules/.bin, which the user's own shell does not.
  if (basename(script) === 'hmac-kit' && env.npm_lifecycle_event === undefined) {
    const onPath = (env.PATH ?? '').split(delimiter).some((dir) => dir && resolve(cwd, dir) === dirname(script));
    if (onPath) return 'hmac-kit';
  }
  // In a project that installed the package (a clone included: the workspace links it), npx finds it.
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules', '.bin', 'hmac-kit'))) return 'npx hmac-kit';
    if (dirname(dir) === dir) break;
  }
  if (!script) return 'hmac-kit';
  const nearby = relative(cwd, script);
  const path = nearby && !nearby.startsWith('..') ? nearby : script;
  return `node ${/^[\w./@+-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`}`;
}

export function registerServe(
  program: Command,
  io: Io,
  setExit: (code: Promise<number>) => void,
  cli = 'hmac-kit',
): void {
  const command = program
    .command('serve')
    .description('run the verifying gateway / forward-auth / key issuing server')
    .option('--config <file>', 'JSON config file (flags and HMAC_KIT_* variables override it)');
  for (const [flag, , help] of SERVE_FLAGS) command.option(flag, help);
  command.action(async (options: Record<string, unknown>) => {
    const { ConfigError, loadConfig } = await import('@hmac-kit/server');
    const globals = program.opts<Record<string, unknown>>();
    const flags: RawConfig = {};
    // commander parses a program-level option wherever it appears, so `serve --master-key-file F`
    // fills the global option and leaves serve's own empty: any flag that exists on both levels
    // takes the global value when serve's is unset (whichever spelling the user chose).
    for (const [flag, setting] of SERVE_FLAGS) flags[setting] = options[camel(flag)] ?? globals[camel(flag)];
    if (flags.masterKeys !== undefined) {
      io.stderr(
        'hmac-kit: warning: --master-keys is visible to other users in the process list; use HMAC_KIT_MASTER_KEYS or --master-key-file\n',
      );
    }
    flags.database = globals.db as string | undefined;
    let config: ServerConfig;
    try {
      config = loadConfig({ flags, env: io.env, configFile: options.config as string | undefined });
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(`config: ${error.message}`, 2);
      throw error;
    }
    setExit(runServer(config, io, cli));
  });
}

/** Quotes a shell word when it needs it. */
function shellWord(word: string): string {
  return /^[\w./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The global options another terminal needs to reach the same keys: `--db` (and the master key
 * file when the CLI would not find it beside the database). A PostgreSQL URL with a password is
 * never printed: the hint reads it from HMAC_KIT_DATABASE_URL instead.
 */
function storeFlags(running: ListeningInfo, config: ServerConfig): string {
  const info = running.store;
  const flags: string[] = [];
  if (info.kind === 'sqlite') flags.push(`--db ${shellWord(info.location)}`);
  else if (/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(config.database)) flags.push('--db "$HMAC_KIT_DATABASE_URL"');
  else flags.push(`--db ${shellWord(config.database)}`);
  const besideDatabase = info.kind === 'sqlite' && info.masterKeyFile === `${info.location}.master-keys.json`;
  if (info.masterKeySource !== 'env' && info.masterKeyFile && !besideDatabase) {
    flags.push(`--master-key-file ${shellWord(info.masterKeyFile)}`);
  }
  return flags.join(' ');
}

/** A human start-up note on stderr (stdout carries the JSON logs). */
function banner(running: ListeningInfo, config: ServerConfig, cli: string): string {
  const info = running.store;
  const db = storeFlags(running, config);
  // The CLI trusts the system CAs; a private CA is added the Node way.
  const caHint = config.tls ? 'NODE_EXTRA_CA_CERTS=<ca.pem> ' : '';
  const passwordInUrl = db.includes('$HMAC_KIT_DATABASE_URL');
  const envHint =
    info.masterKeySource === 'env' || passwordInUrl
      ? [
          `    (in that shell: export ${[passwordInUrl ? 'HMAC_KIT_DATABASE_URL' : '', info.masterKeySource === 'env' ? 'HMAC_KIT_MASTER_KEYS' : ''].filter(Boolean).join(' and ')} as for this server)`,
        ]
      : [];
  // In gateway mode every path but the admin prefix goes upstream: whoami does not exist there, so
  // the first request is an admin call (the key below has the admin scope).
  const tryPath = config.upstream ? `${config.adminPrefix}/v1/admin/principals` : '/v1/whoami';
  const lines = [
    `hmac-kit serve listening on ${running.url} (${config.upstream ? `gateway to ${config.upstream}` : 'API mode'}; schemes ${config.schemes.join(', ')})`,
    `  workers:         ${running.workers === 1 ? '1 process' : `${running.workers} processes (${config.redis ? 'nonces and limits in Redis' : 'nonces and limits shared through the supervisor'})`}`,
    ...(config.tls
      ? [`  TLS:             ${config.tls.certFile} (${config.tls.minVersion}+, HTTP/2 and HTTP/1.1; SIGHUP reloads)`]
      : []),
    `  database:        ${info.kind} ${info.location}`,
    info.masterKeySource === 'env'
      ? '  master keys:     from HMAC_KIT_MASTER_KEYS'
      : `  master key file: ${info.masterKeyFile}${info.masterKeySource === 'created' ? ' (created now, mode 0600: back it up, secrets cannot be decrypted without it)' : ''}`,
    `  forward-auth:    ${running.url}${config.adminPrefix}${config.verifyPath}`,
    ...(config.schemes.includes('standard-webhooks')
      ? [
          `  webhooks:        verified with ${config.webhookKeyId ? `key ${config.webhookKeyId}` : 'the key named by the webhook-key-id header'}`,
        ]
      : []),
    ...(config.adminPrefix
      ? [`  own routes:      ${running.url}${config.adminPrefix}/ (healthz, readyz, metrics, v1/keys, v1/admin)`]
      : []),
    ...(config.upstream ? [`  other paths:     forwarded to ${config.upstream} once verified`] : []),
    '  first key:',
    `    ${cli} ${db} principals add alice`,
    `    ${cli} ${db} keys create --principal alice --scope admin`,
    ...envHint,
    `    ${caHint}HMAC_KIT_SECRET=<secret> ${cli} request GET ${running.url}${tryPath} --key-id <keyId> --secret-env HMAC_KIT_SECRET`,
    '',
  ];
  return lines.join('\n');
}

/** One line for a listen failure, with what to do about it. */
function describeStartError(error: Error, config: ServerConfig): string {
  const message = error.message.split('\n')[0] ?? 'failed';
  const code = (error as NodeJS.ErrnoException).code ?? /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(message)?.[1];
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') {
    return `port ${config.port} on ${config.host} is already in use (EADDRINUSE; another hmac-kit serve?): stop that process, or choose another port with --port <port> (or HMAC_KIT_PORT; --port 0 picks a free one)`;
  }
  if (code === 'EACCES') {
    return `no permission to listen on ${where} (ports below 1024 need privileges): choose another port with --port <port>`;
  }
  if (code === 'EADDRNOTAVAIL') {
    return `cannot listen on ${where}: ${config.host} is not an address of this machine (check --host)`;
  }
  return message;
}

/**
 * Runs the server process (or its supervisor and workers, see `runServe`): it owns the process
 * from here, handles the signals and exits when the server has stopped.
 */
/**
 * Whether the port can be bound, tried before the store is opened: a port already in use must not
 * leave a new database and master key file behind (the server binds for real later; this is a probe).
 */
function probePort(config: ServerConfig): Promise<NodeJS.ErrnoException | undefined> {
  // A worker runs this command again (cluster.fork): the supervisor probed the port before it forked,
  // and holds it itself once the first worker listens, so a worker's probe would find it in use.
  if (config.port === 0 || cluster.isWorker) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    probe.listen({ port: config.port, host: config.host, exclusive: true }, () =>
      probe.close(() => resolve(undefined)),
    );
  });
}

async function runServer(config: ServerConfig, io: Io, cli: string): Promise<number> {
  const { runServe } = await import('@hmac-kit/server');
  const { DatabaseLocationError, describeDatabaseError } = await import('@hmac-kit/server/store');
  const busy = await probePort(config);
  if (busy) throw new CliError(`cannot start: ${describeStartError(busy, config)}`);
  try {
    return await runServe(config, { onListening: (info) => io.stderr(banner(info, config, cli)) });
  } catch (error) {
    if (error instanceof DatabaseLocationError) throw new CliError(error.message, 2);
    const described = describeDatabaseError(error, config.database) ?? describeStartError(error as Error, config);
    throw new CliError(`cannot start: ${described}`);
  }
}
