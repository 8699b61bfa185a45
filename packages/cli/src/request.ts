import { readFileSync } from 'node:fs';
import {
  type HashAlgorithm,
  rfc9421,
  type Scheme,
  type SigningKey,
  signatureBase,
  signMessage,
  sigv4,
  xApi,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import type { Command } from 'commander';
import { CliError, checkKeyIdOption, type Io } from './output.js';

interface SignFlags {
  header: string[];
  data?: string;
  dataFile?: string;
  dataStdin?: boolean;
  keyId?: string;
  secretEnv?: string;
  secretFile?: string;
  secret?: string;
  scheme: string;
  algorithm: string;
  region?: string;
  service?: string;
  include?: boolean;
  verbose?: boolean;
}

function collectHeader(value: string, previous: string[] = []): string[] {
  return [...previous, value];
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
    if (!value) throw new CliError(`environment variable ${flags.secretEnv} is not set`, 2);
    return value.trim();
  }
  if (flags.secretFile !== undefined) {
    try {
      return readFileSync(flags.secretFile, 'utf8').trim();
    } catch (error) {
      throw new CliError(`cannot read secret file ${flags.secretFile}: ${(error as NodeJS.ErrnoException).code}`, 2);
    }
  }
  io.stderr(
    'hmac-kit: warning: --secret is visible to other users in the process list; use --secret-env or --secret-file\n',
  );
  return (flags.secret as string).trim();
}

async function readData(io: Io, flags: SignFlags): Promise<Uint8Array | undefined> {
  const given = [flags.data !== undefined, flags.dataFile !== undefined, flags.dataStdin === true].filter(Boolean);
  if (given.length > 1) throw new CliError('give only one of --data, --data-file, --data-stdin', 2);
  if (flags.data !== undefined) return new TextEncoder().encode(flags.data);
  if (flags.dataFile !== undefined) {
    try {
      return new Uint8Array(readFileSync(flags.dataFile));
    } catch (error) {
      throw new CliError(`cannot read ${flags.dataFile}: ${(error as NodeJS.ErrnoException).code}`, 2);
    }
  }
  if (flags.dataStdin) return io.readStdin();
  return undefined;
}

function schemeOf(flags: SignFlags): Scheme {
  switch (flags.scheme) {
    case 'rfc9421':
      return rfc9421();
    case 'sigv4':
      return sigv4();
    case 'x-api':
      return xApi();
    default:
      throw new CliError(`invalid scheme ${JSON.stringify(flags.scheme)}: use rfc9421, sigv4 or x-api`, 2);
  }
}

interface Prepared {
  method: string;
  url: string;
  headers: Headers;
  body: Uint8Array | undefined;
  added: Record<string, string>;
}

async function prepare(io: Io, method: string, target: string, flags: SignFlags): Promise<Prepared> {
  if (!/^[A-Za-z]+$/.test(method)) throw new CliError(`invalid method ${JSON.stringify(method)}`, 2);
  if (!URL.canParse(target) || !/^https?:/i.test(target)) {
    throw new CliError(`invalid URL ${JSON.stringify(target)}: expected http(s)://...`, 2);
  }
  if (!flags.keyId) throw new CliError('give the key id with --key-id', 2);
  checkKeyIdOption(flags.keyId);
  if (!['sha256', 'sha384', 'sha512'].includes(flags.algorithm)) {
    throw new CliError(`invalid algorithm ${JSON.stringify(flags.algorithm)}: use sha256, sha384 or sha512`, 2);
  }
  const scheme = schemeOf(flags);
  const secret = readSecret(io, flags);
  const headers = parseHeaders(flags.header);
  const body = await readData(io, flags);
  if (body !== undefined && !headers.has('content-type'))
    headers.set('content-type', 'application/x-www-form-urlencoded');
  const upper = method.toUpperCase();
  const key: SigningKey = { keyId: flags.keyId, secret, algorithm: flags.algorithm as HashAlgorithm };
  const signOptions: Record<string, unknown> = { scheme, crypto: nodeCryptoProvider };
  if (flags.region) signOptions.region = flags.region;
  if (flags.service) signOptions.service = flags.service;
  let signed: { headers: Record<string, string>; url: string };
  try {
    signed = await signMessage({ method: upper, url: target, headers, body: body ?? null }, key, signOptions);
  } catch (error) {
    if (error instanceof TypeError) throw new CliError(error.message, 2);
    throw error;
  }
  for (const [name, value] of Object.entries(signed.headers)) headers.set(name, value);
  return { method: upper, url: signed.url, headers, body, added: signed.headers };
}

function signOptions(command: Command): Command {
  return command
    .option('-H, --header <header>', "request header 'Name: value' (repeat)", collectHeader, [])
    .option('--data <string>', 'request body')
    .option('--data-file <file>', 'request body from a file')
    .option('--data-stdin', 'request body from stdin')
    .option('--key-id <id>', 'key id')
    .option('--secret-env <var>', 'read the secret from this environment variable')
    .option('--secret-file <file>', 'read the secret from this file')
    .option('--secret <secret>', 'the secret (visible in the process list: avoid)')
    .option('--scheme <scheme>', 'rfc9421, sigv4 or x-api', 'rfc9421')
    .option('--algorithm <algorithm>', "the key's algorithm: sha256, sha384, sha512", 'sha256')
    .option('--region <region>', 'SigV4 region (default us-east-1)')
    .option('--service <service>', 'SigV4 service (default hmac-kit)');
}

/** `request` (signed curl) and `sign` (headers only). */
export function registerRequestCommands(program: Command, io: Io, setExit: (code: Promise<number>) => void): void {
  signOptions(
    program
      .command('request <method> <url>')
      .description('send a signed request and print the response (like curl)')
      .option('-i, --include', 'print the response status line and headers')
      .option('-v, --verbose', 'also print the signed headers and signature base (stderr)'),
  ).action(async (method: string, target: string, flags: SignFlags) => {
    const prepared = await prepare(io, method, target, flags);
    if (flags.verbose) {
      const url = new URL(prepared.url);
      io.stderr(`> ${prepared.method} ${url.pathname}${url.search} HTTP/1.1\n> host: ${url.host}\n`);
      for (const [name, value] of prepared.headers) io.stderr(`> ${name}: ${value}\n`);
      io.stderr('>\n');
      const base = signatureBaseOf(prepared);
      if (base) io.stderr(`* signature base:\n${base.replace(/^/gm, '*   ')}\n`);
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
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`request failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
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
  });

  signOptions(
    program.command('sign <method> <url>').description('print the headers to add to a request (for any HTTP tool)'),
  ).action(async (method: string, target: string, flags: SignFlags) => {
    const prepared = await prepare(io, method, target, flags);
    if (program.opts<{ json?: boolean }>().json) {
      io.stdout(`${JSON.stringify({ url: prepared.url, headers: prepared.added })}\n`);
      return;
    }
    for (const [name, value] of Object.entries(prepared.added)) io.stdout(`${name}: ${value}\n`);
    if (prepared.url !== target) io.stderr(`hmac-kit: send the request to ${prepared.url}\n`);
  });
}

/** The RFC 9421 signature base the server will rebuild, for `-v` (debugging a mismatch beside the server's log). */
function signatureBaseOf(prepared: Prepared): string | undefined {
  const input = prepared.headers.get('signature-input');
  if (!input) return undefined;
  try {
    return signatureBase({ method: prepared.method, url: prepared.url, headers: prepared.headers }, input);
  } catch {
    return undefined;
  }
}
