/**
 * What `request` and `sign` do, loaded only when one of them runs (request.ts registers them): the
 * core's schemes and the node:crypto provider are ~60 modules that `--help`, `--version` and the
 * store commands need not load for them.
 */
import { readFileSync } from 'node:fs';
import {
  buildSignatureBaseReport,
  type DeclarativeSchemeDefinition,
  declarativeScheme,
  djangoHmac,
  type HashAlgorithm,
  rfc9421,
  type Scheme,
  type SignatureBaseReport,
  type SigningKey,
  signMessage,
  sigv4,
  standardWebhooks,
  xApi,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { printBaseDiff, printReport, serverReportOf } from './base-diff.js';
import { CliError, checkKeyIdOption, type Io, pathFrom } from './output.js';

/** The flags `request` and `sign` share (request.ts `signOptions`). */
export interface SignFlags {
  header: string[];
  data?: string;
  dataFile?: string;
  dataStdin?: boolean;
  /** `request --json <data>` (renamed `--json-body` before parsing: index.ts requestJsonArgs). */
  jsonBody?: string;
  keyId?: string;
  secretEnv?: string;
  secretFile?: string;
  secret?: string;
  scheme?: string;
  config?: string;
  secretEncoding?: string;
  algorithm: string;
  region?: string;
  service?: string;
  include?: boolean;
  verbose?: boolean;
}

function parseHeaders(lines: readonly string[]): Headers {
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!name || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new CliError(`invalid header ${JSON.stringify(line)}: use -H 'Name: value'`, 2);
    }
    headers.append(name, line.slice(colon + 1).trim());
  }
  return headers;
}

/**
 * The secret: from `--secret-env` or `--secret-file`. `--secret` works but warns, since
 * arguments are visible to every user of the machine (`ps`, /proc).
 */
function readSecret(io: Io, flags: SignFlags): string {
  const sources = [flags.secretEnv, flags.secretFile, flags.secret].filter((value) => value !== undefined);
  if (sources.length === 0) throw new CliError('give the secret with --secret-env VAR or --secret-file FILE', 2);
  if (sources.length > 1) throw new CliError('give only one of --secret-env, --secret-file, --secret', 2);
  if (flags.secretEnv !== undefined) {
    const value = io.env[flags.secretEnv];
    if (!value) throw new CliError(`environment variable ${flags.secretEnv} is not set (or empty)`, 2);
    return value.trim();
  }
  if (flags.secretFile !== undefined) {
    try {
      return readFileSync(pathFrom(io, flags.secretFile), 'utf8').trim();
    } catch (error) {
      throw new CliError(`cannot read secret file ${flags.secretFile}: ${(error as NodeJS.ErrnoException).code}`, 2);
    }
  }
  io.stderr(
    'hmac-kit: warning: --secret is visible to other users in the process list; use --secret-env or --secret-file\n',
  );
  return (flags.secret as string).trim();
}

/**
 * `-H Host`: fetch() sends the URL's host whatever the header says (and -v would show the header as
 * if sent), and the signature covers the URL's authority: a Host that differs from it could only
 * fail. Refused, pointing at the URL to use instead.
 */
function refuseHostHeader(headers: Headers, target: string): void {
  const host = headers.get('host');
  const url = new URL(target);
  if (host === null || host.toLowerCase() === url.host.toLowerCase()) return;
  // Host is the whole authority: without a port it means the scheme's default one.
  const candidate = `${url.protocol}//${host}${url.pathname}${url.search}`;
  const instead = URL.canParse(candidate) ? ` (${new URL(candidate).href})` : '';
  throw new CliError(
    `-H Host: the request goes to, and is signed for, the URL's host: put the host clients sign for in the URL${instead}`,
    2,
  );
}

/** Headers fetch() frames the request with itself: set by hand, they fail (or lie about the body) at send time. */
const FETCH_OWNED_HEADERS = ['content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect'];

function refuseFetchOwnedHeaders(headers: Headers): void {
  for (const name of FETCH_OWNED_HEADERS) {
    if (!headers.has(name)) continue;
    const shown = name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
    throw new CliError(
      `-H ${shown}: fetch() sets this header itself (from --data, --data-file or --data-stdin, and its own connection handling): drop it`,
      2,
    );
  }
}

/** Where the secret came from, as a refusal names it: the variable, the file, or --secret. */
function secretSource(flags: SignFlags): string {
  if (flags.secretEnv !== undefined) return flags.secretEnv;
  if (flags.secretFile !== undefined) return flags.secretFile;
  return '--secret';
}

/** A refusal of the secret (core's TypeError "secret ..."), naming where it came from. */
function secretRefusal(message: string, value: string, flags: SignFlags): CliError {
  const source = secretSource(flags);
  // The key id and the secret are printed one above the other: the id pasted for the secret is a
  // mistake worth naming (never echoing the value itself).
  if (value.startsWith('hk_') && message.startsWith('secret must start with')) {
    return new CliError(
      `${source} holds a key id (hk_...), not a secret: the secret is the hks_... value keys create printed`,
      2,
    );
  }
  return new CliError(`the secret in ${source}: ${message}`, 2);
}

async function readData(io: Io, flags: SignFlags): Promise<Uint8Array | undefined> {
  const given = [flags.data !== undefined, flags.dataFile !== undefined, flags.dataStdin === true].filter(Boolean);
  if (flags.jsonBody !== undefined) {
    if (given.length > 0) throw new CliError('give only one of --data, --data-file, --data-stdin, --json', 2);
    return new TextEncoder().encode(flags.jsonBody);
  }
  if (given.length > 1) throw new CliError('give only one of --data, --data-file, --data-stdin', 2);
  if (flags.data !== undefined) return new TextEncoder().encode(flags.data);
  if (flags.dataFile !== undefined) {
    try {
      return new Uint8Array(readFileSync(pathFrom(io, flags.dataFile)));
    } catch (error) {
      throw new CliError(`cannot read ${flags.dataFile}: ${(error as NodeJS.ErrnoException).code}`, 2);
    }
  }
  if (flags.dataStdin) return io.readStdin();
  return undefined;
}

const BUILT_IN_SCHEMES: Readonly<Record<string, () => Scheme>> = {
  rfc9421: () => rfc9421(),
  sigv4: () => sigv4(),
  'x-api': () => xApi(),
  'django-hmac': () => djangoHmac(),
  'standard-webhooks': () => standardWebhooks(),
};

/** The scheme to sign with, and the declared definition when it is one of `--config`'s legacy schemes. */
interface ChosenScheme {
  scheme: Scheme;
  declared?: DeclarativeSchemeDefinition;
}

/**
 * The declared (legacy) schemes of a server config file, validated exactly as `hmac-kit serve`
 * validates them (one line per mistake, joined: the CLI reports the first).
 */
async function declaredSchemes(file: string): Promise<DeclarativeSchemeDefinition[]> {
  const { ConfigError, loadConfig } = await import('@hmac-kit/server');
  try {
    return loadConfig({ configFile: file, env: {} }).legacySchemes ?? [];
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`config: ${error.message.split('\n')[0]}`, 2);
    throw error;
  }
}

async function schemeOf(io: Io, flags: SignFlags): Promise<ChosenScheme> {
  const declared = flags.config === undefined ? [] : await declaredSchemes(pathFrom(io, flags.config));
  // A config file declaring one scheme signs with it unless --scheme says otherwise.
  const name = flags.scheme ?? (declared.length === 1 ? declared[0]!.name : 'rfc9421');
  const definition = declared.find((entry) => entry.name === name);
  if (definition !== undefined) return { scheme: declarativeScheme(definition), declared: definition };
  const builtIn = BUILT_IN_SCHEMES[name];
  if (builtIn !== undefined) return { scheme: builtIn() };
  const names = [...Object.keys(BUILT_IN_SCHEMES), ...declared.map((entry) => entry.name)].join(', ');
  const hint =
    flags.config === undefined && /^[a-z0-9][a-z0-9._-]*$/.test(name) ? ' (declared schemes need --config FILE)' : '';
  throw new CliError(`invalid scheme ${JSON.stringify(name)}: use ${names}${hint}`, 2);
}

/**
 * The secret as the scheme needs it. `--secret-encoding text|base64|hex` says how a secret that
 * clients already hold is written (as `keys import --encoding`); without it an `hks_` secret is used
 * as is, and for a declared (legacy) scheme any other secret is its text, the way those clients use it.
 */
function secretFor(secret: string, flags: SignFlags, chosen: ChosenScheme): string | Uint8Array {
  const encoding = flags.secretEncoding;
  if (encoding === undefined) {
    return chosen.declared !== undefined && !secret.startsWith('hks_') ? new TextEncoder().encode(secret) : secret;
  }
  if (encoding === 'text') return new TextEncoder().encode(secret);
  if (encoding === 'hex') {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(secret)) throw new CliError('the secret is not hex (--secret-encoding hex)', 2);
    return new Uint8Array(Buffer.from(secret, 'hex'));
  }
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(secret)) {
      throw new CliError('the secret is not base64 (--secret-encoding base64)', 2);
    }
    return new Uint8Array(Buffer.from(secret, 'base64'));
  }
  throw new CliError(`invalid secret encoding ${JSON.stringify(encoding)}: use text, base64 or hex`, 2);
}

interface Prepared {
  method: string;
  url: string;
  headers: Headers;
  body: Uint8Array | undefined;
  added: Record<string, string>;
  scheme: Scheme;
}

async function prepare(io: Io, method: string, target: string, flags: SignFlags): Promise<Prepared> {
  if (!/^[A-Za-z]+$/.test(method)) throw new CliError(`invalid method ${JSON.stringify(method)}`, 2);
  if (!URL.canParse(target) || !/^https?:/i.test(target)) {
    throw new CliError(`invalid URL ${JSON.stringify(target)}: expected http(s)://...`, 2);
  }
  await checkKeyIdOption(flags.keyId);
  if (!['sha256', 'sha384', 'sha512'].includes(flags.algorithm)) {
    throw new CliError(`invalid algorithm ${JSON.stringify(flags.algorithm)}: use sha256, sha384 or sha512`, 2);
  }
  const chosen = await schemeOf(io, flags);
  const scheme = chosen.scheme;
  // Single-secret schemes name their key in the config (`legacy`): the request carries no key id.
  const fixedKeyId = chosen.declared && 'fixed' in chosen.declared.keyId ? chosen.declared.keyId.fixed : undefined;
  if (fixedKeyId !== undefined && flags.keyId !== undefined && flags.keyId !== fixedKeyId) {
    throw new CliError(
      `scheme ${scheme.name} always uses key id ${fixedKeyId} (its requests carry none): drop --key-id`,
      2,
    );
  }
  const keyId = flags.keyId ?? fixedKeyId;
  if (!keyId) throw new CliError('give the key id with --key-id', 2);
  const secretText = readSecret(io, flags);
  const secret = secretFor(secretText, flags, chosen);
  const headers = parseHeaders(flags.header);
  refuseHostHeader(headers, target);
  const body = await readData(io, flags);
  // curl's --json: a JSON body, and JSON asked for back, unless -H says otherwise.
  if (flags.jsonBody !== undefined) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    if (!headers.has('accept')) headers.set('accept', 'application/json');
  }
  if (body !== undefined && !headers.has('content-type'))
    headers.set('content-type', 'application/x-www-form-urlencoded');
  const upper = method.toUpperCase();
  const key: SigningKey = { keyId, secret, algorithm: flags.algorithm as HashAlgorithm };
  const signOptions: Record<string, unknown> = { scheme, crypto: nodeCryptoProvider };
  if (flags.region) signOptions.region = flags.region;
  if (flags.service) signOptions.service = flags.service;
  let signed: { headers: Record<string, string>; url: string };
  try {
    signed = await signMessage({ method: upper, url: target, headers, body: body ?? null }, key, signOptions);
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith('secret ')) {
      throw secretRefusal(error.message, secretText, flags);
    }
    if (error instanceof TypeError) throw new CliError(error.message, 2);
    throw error;
  }
  for (const [name, value] of Object.entries(signed.headers)) headers.set(name, value);
  return { method: upper, url: signed.url, headers, body, added: signed.headers, scheme };
}

/** Why fetch() could not send the request, in words, naming where it tried to connect. */
function describeFetchError(error: unknown, url: URL): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const where = `cannot connect to ${url.hostname}:${port}`;
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused (ECONNREFUSED; is the server running, on that port?)',
    ENOTFOUND: `host ${url.hostname} not found (ENOTFOUND; check the URL)`,
    EAI_AGAIN: `host ${url.hostname} could not be resolved now (EAI_AGAIN; DNS)`,
    ECONNRESET: 'the connection was reset (ECONNRESET; plain http:// to a TLS port, or a proxy in between?)',
    ETIMEDOUT: 'timed out (ETIMEDOUT)',
    EHOSTUNREACH: 'host unreachable (EHOSTUNREACH)',
    UND_ERR_CONNECT_TIMEOUT: 'timed out while connecting (UND_ERR_CONNECT_TIMEOUT)',
    ERR_SSL_WRONG_VERSION_NUMBER: 'no TLS there (ERR_SSL_WRONG_VERSION_NUMBER; https:// to a plain http port?)',
    UND_ERR_SOCKET: 'the server closed the connection (UND_ERR_SOCKET; https:// to a plain http port?)',
  };
  if (code !== undefined && reasons[code] !== undefined) return `${where}: ${reasons[code]}`;
  if (cause?.message === 'bad port') {
    return `${where}: port ${port} is one fetch() refuses to use (the Fetch standard's "bad ports", e.g. 6000, 6665-6669, 10080): serve on another port`;
  }
  if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return `${where}: TLS certificate not trusted (${code}; a private CA: NODE_EXTRA_CA_CERTS=<ca.pem>)`;
  }
  return `request failed: ${code ?? cause?.message ?? (error as Error).message}`;
}

/** `request`: sends the signed request and prints the response (like curl). */
export async function runRequest(
  io: Io,
  setExit: (code: Promise<number>) => void,
  method: string,
  target: string,
  flags: SignFlags,
): Promise<void> {
  const prepared = await prepare(io, method, target, flags);
  refuseFetchOwnedHeaders(prepared.headers);
  let clientReport: SignatureBaseReport | undefined;
  if (flags.verbose) {
    const url = new URL(prepared.url);
    io.stderr(`> ${prepared.method} ${url.pathname}${url.search} HTTP/1.1\n> host: ${url.host}\n`);
    for (const [name, value] of prepared.headers) io.stderr(`> ${name}: ${value}\n`);
    io.stderr('>\n');
    clientReport = signatureBaseOf(prepared);
    if (clientReport) printReport(io, clientReport);
  }
  let response: Response;
  try {
    response = await fetch(prepared.url, {
      method: prepared.method,
      headers: prepared.headers,
      body: prepared.body as BodyInit | undefined,
      redirect: 'manual',
    });
  } catch (error) {
    throw new CliError(describeFetchError(error, new URL(prepared.url)));
  }
  const text = new Uint8Array(await response.arrayBuffer());
  if (flags.include || flags.verbose) {
    const head = [`HTTP/1.1 ${response.status} ${response.statusText}`];
    for (const [name, value] of response.headers) head.push(`${name}: ${value}`);
    const rendered = `${head.join('\n')}\n\n`;
    if (flags.include) io.stdout(rendered);
    else io.stderr(rendered.replace(/^/gm, '< '));
  }
  io.stdout(Buffer.from(text).toString('utf8'));
  if (text.length > 0 && text[text.length - 1] !== 10) io.stdout('\n');
  if (flags.verbose) {
    const serverReport = serverReportOf(response.headers.get('content-type'), text);
    if (serverReport) printBaseDiff(io, clientReport, serverReport, colourOf(io));
  }
  if (response.status >= 400) {
    let code = '';
    try {
      code = (JSON.parse(Buffer.from(text).toString('utf8')) as { code?: string }).code ?? '';
    } catch {
      code = '';
    }
    io.stderr(`hmac-kit: HTTP ${response.status}${code ? ` ${code}` : ''}\n`);
    setExit(Promise.resolve(1));
  }
}

/** `sign`: prints the headers to add to a request (`--json`: the URL and the headers as one object). */
export async function runSign(io: Io, json: boolean, method: string, target: string, flags: SignFlags): Promise<void> {
  const prepared = await prepare(io, method, target, flags);
  if (json) {
    io.stdout(`${JSON.stringify({ url: prepared.url, headers: prepared.added })}\n`);
    return;
  }
  for (const [name, value] of Object.entries(prepared.added)) io.stdout(`${name}: ${value}\n`);
  if (prepared.url !== target) io.stderr(`hmac-kit: send the request to ${prepared.url}\n`);
}

/**
 * What the scheme MACs for the request as sent, rebuilt the way the server rebuilds it (the scheme's
 * `signatureBase` capability over the signed message), for `-v` and the diff against the server's.
 */
function signatureBaseOf(prepared: Prepared): SignatureBaseReport | undefined {
  const message = { method: prepared.method, url: prepared.url, headers: prepared.headers };
  const body = prepared.body ?? new Uint8Array(0);
  const hasBody = body.length > 0 || ['POST', 'PUT', 'PATCH'].includes(prepared.method);
  try {
    const credentials = prepared.scheme.parse(message, { hasBody });
    return buildSignatureBaseReport(prepared.scheme, credentials, {
      message,
      hasBody,
      body,
      crypto: nodeCryptoProvider,
    });
  } catch {
    return undefined;
  }
}

/** Colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
function colourOf(io: Io): boolean {
  return io.stderrIsTTY === true && (io.env.NO_COLOR ?? '') === '' && io.env.TERM !== 'dumb';
}
