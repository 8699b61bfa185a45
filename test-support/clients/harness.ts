/**
 * Shared by the client tests (Python, Ruby, bash, Postman, axios, undici, browser): a live
 * verifying server, the request cases every client must get right, and the known-answer vectors.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { onJsonLines, runCliInProcess } from '../processes.js';
import { readPublishedVector } from '../published-vectors.js';

/** What every echo endpoint answers after a request passed verification. */
export interface Echo {
  keyId: string;
  method: string;
  /** Path and query exactly as the server received them. */
  target: string;
  bodyLength: number;
  bodySha256: string;
}

export interface LiveServer {
  /** What is verifying: `hmac-kit serve` (the real server, in gateway mode). */
  kind: string;
  /** Origin to send requests to, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  keyId: string;
  secret: string;
  /** Every request the server refused, with its problem code (for assertions and debugging). */
  refusals: { target: string; code: string }[];
  close(): Promise<void>;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readAll(request: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  response.writeHead(status, headers);
  response.end(body);
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_BIN = join(REPO_ROOT, 'packages/cli/bin/hmac-kit.js');

/**
 * Environment for the server process: nothing HMAC_KIT_* leaks in from the developer's shell, and one
 * process (`HMAC_KIT_WORKERS=1`, as `startServe` in test-support/processes.ts does). The default, one
 * worker per core, made every client suite pay a supervisor and two workers (three node processes
 * loading the server, ~1.3 s of CPU more per file on 2 cores) for a test about clients, not the
 * process model (packages/server/test/workers.test.ts is about that).
 */
function serverEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HMAC_KIT_')));
  return { ...env, HMAC_KIT_WORKERS: '1' };
}

/** Runs a store command in this process (runCliInProcess: a CLI process per command cost ~0.5 s of CPU). */
async function cli(args: string[]): Promise<string> {
  const result = await runCliInProcess(args, { cwd: REPO_ROOT });
  if (result.code !== 0) throw new Error(`hmac-kit ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * Builds `dist/` of these projects (and what they reference) for code that runs in child processes,
 * serialised with the other suites that do the same.
 */
export function buildForProcesses(projects: string[]): void {
  // The global setup already built everything for this run (test-support/global-setup.ts).
  if (inject('distBuilt')) return;
  const tsc = join(REPO_ROOT, 'node_modules/.bin/tsc');
  execFileSync('flock', ['/tmp/hmac-kit-server-tests-build.lock', tsc, '-b', ...projects], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** An upstream that echoes what the gateway forwarded, as an {@link Echo}. */
async function startEchoUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    void readAll(request).then((body) => {
      const echo: Echo = {
        keyId: String(request.headers['x-authenticated-key-id'] ?? ''),
        method: request.method ?? '',
        target: request.url ?? '',
        bodyLength: body.length,
        bodySha256: sha256Hex(body),
      };
      send(response, 200, { 'content-type': 'application/json' }, JSON.stringify(echo));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The real thing: `hmac-kit serve --port 0` in gateway mode on a fresh SQLite database in a temp
 * directory, a key made with `hmac-kit keys create --json`, and an echo upstream behind it.
 */
export async function startHmacKitServe(): Promise<LiveServer> {
  // The server process runs from dist/: build the CLI and what it references.
  buildForProcesses(['packages/cli']);
  const dir = tempDir('hmac-kit-clients-');
  const db = join(dir.path, 'hmac-kit.db');
  await cli(['--db', db, 'principals', 'add', 'client-tests']);
  const issued = JSON.parse(await cli(['--db', db, '--json', 'keys', 'create', '--principal', 'client-tests'])) as {
    keyId: string;
    secret: string;
  };
  const upstream = await startEchoUpstream();
  const child = spawn(
    process.execPath,
    [CLI_BIN, '--db', db, 'serve', '--port', '0', '--upstream', upstream.url, '--max-body', '16mb'],
    { cwd: dir.path, env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  const refusals: { target: string; code: string }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hmac-kit serve did not start: ${stderr}`)), 90_000);
    child.once('exit', (code) => reject(new Error(`hmac-kit serve exited with ${code}: ${stderr}`)));
    onJsonLines(child.stdout, (entry) => {
      logs.push(entry);
      if (typeof entry['code'] === 'string')
        refusals.push({ target: String(entry['path'] ?? entry['url'] ?? ''), code: entry['code'] });
      if (entry['msg'] === 'listening' && typeof entry['url'] === 'string') {
        clearTimeout(timer);
        resolve(entry['url']);
      }
    });
  });
  return {
    kind: 'hmac-kit serve',
    origin: new URL(origin).origin,
    keyId: issued.keyId,
    secret: issued.secret,
    refusals,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await upstream.close();
      dir.cleanup();
    },
  };
}

/** The live server the client suites talk to: the real `hmac-kit serve` gateway. */
export function startLiveServer(): Promise<LiveServer> {
  return startHmacKitServe();
}

/** A request every client must sign and send so that the server accepts it. */
export interface ClientCase {
  name: string;
  method: string;
  /** Path and query as a user would write them (unencoded unicode, spaces, reserved characters). */
  pathAndQuery: string;
  /** What a WHATWG URL parser (and so every client) turns `pathAndQuery` into. */
  expectedTarget: string;
  body?: Uint8Array;
  contentType?: string;
}

function largeBody(bytes: number): Uint8Array {
  // Printable, so shells and CLIs that take text can send it too; deterministic, so it is reproducible.
  const out = new Uint8Array(bytes);
  let state = 0x2545f491;
  for (let i = 0; i < bytes; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = 0x21 + ((state >>> 16) % 94);
  }
  return out;
}

const unicodeJson = new TextEncoder().encode(
  JSON.stringify({ name: 'José Müller', city: '東京', note: 'naïve café 🚀', quote: '"\\' }),
);

/** The cases of the issue: unicode paths and bodies, repeated/reserved query characters, empty and large bodies. */
export const clientCases: ClientCase[] = [
  { name: 'GET /v1/whoami (no query)', method: 'GET', pathAndQuery: '/v1/whoami', expectedTarget: '/v1/whoami' },
  {
    name: 'unicode path',
    method: 'GET',
    pathAndQuery: '/files/café/東京/naïve file.txt',
    expectedTarget: '/files/caf%C3%A9/%E6%9D%B1%E4%BA%AC/na%C3%AFve%20file.txt',
  },
  {
    // The repeated name's values are in sorted order: X-API-* and SigV4 do not sign the order of a
    // query, so the gateway refuses a repeated name out of it (issue #11 defect 4; the unsorted form
    // is covered by the known-answer vectors and packages/server/test/adversarial).
    name: 'repeated and reserved query characters',
    method: 'GET',
    pathAndQuery: "/search?q=a&q=a&q=b&tag=x%2Fy&eq=1%3D2&amp=%26&sp=a b&plus=a+b&quote='&colon=:&slash=/&empty=&flag",
    expectedTarget:
      '/search?q=a&q=a&q=b&tag=x%2Fy&eq=1%3D2&amp=%26&sp=a%20b&plus=a+b&quote=%27&colon=:&slash=/&empty=&flag',
  },
  {
    name: 'unicode query',
    method: 'GET',
    pathAndQuery: '/search?city=東京&name=José',
    expectedTarget: '/search?city=%E6%9D%B1%E4%BA%AC&name=Jos%C3%A9',
  },
  { name: 'empty POST body', method: 'POST', pathAndQuery: '/orders', expectedTarget: '/orders' },
  {
    name: 'unicode JSON body',
    method: 'POST',
    pathAndQuery: '/orders?dry_run=1',
    expectedTarget: '/orders?dry_run=1',
    body: unicodeJson,
    contentType: 'application/json; charset=utf-8',
  },
  {
    name: 'large body (2 MiB)',
    method: 'PUT',
    pathAndQuery: '/uploads/big.txt',
    expectedTarget: '/uploads/big.txt',
    body: largeBody(2 * 1024 * 1024),
    contentType: 'text/plain',
  },
  { name: 'DELETE with no body', method: 'DELETE', pathAndQuery: '/orders/42', expectedTarget: '/orders/42' },
];

/**
 * Runs a command, feeding `input`, and resolves with its output (never rejects on a non-zero exit).
 * `env` adds to this process's environment; `fullEnv` replaces it.
 */
export function run(
  command: string,
  args: string[],
  options: {
    input?: string | Uint8Array;
    env?: Record<string, string>;
    fullEnv?: NodeJS.ProcessEnv;
    cwd?: string;
  } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.fullEnv ?? { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    // A program that exits without reading its input closes the pipe first: the write then fails
    // with EPIPE, which says nothing about the program (its exit code and output do).
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** RFC 9421 Appendix B.2.5 (HMAC-SHA256), parsed from the published vector in test-support/vectors. */
export interface B25Vector {
  secretBase64: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  components: string[];
  params: [string, string | number][];
  label: string;
  signatureBase: string;
  signatureInput: string;
  signature: string;
}

/** The B.2.5 vector, vendored in the repository (test-support/vectors/rfc9421-b25.txt). */
export function loadB25(): B25Vector {
  const text = readPublishedVector('rfc9421-b25.txt');
  const lines = text.split('\n');
  const secretBase64 = lines[lines.findIndex((l) => l.startsWith('Shared secret')) + 1]!.trim();
  const base = /-----BEGIN BASE-----\n([\s\S]*?)\n-----END BASE-----/.exec(text)![1]!;
  const signatureInput = /^Signature-Input: (.*)$/m.exec(text)![1]!;
  const signature = /^Signature: (.*)$/m.exec(text)![1]!;
  const requestLine = /^(POST|GET|PUT) (\S+) HTTP\/1\.1$/m.exec(text)!;
  const headers: Record<string, string> = {};
  for (const name of ['Host', 'Date', 'Content-Type', 'Content-Digest', 'Content-Length']) {
    headers[name] = new RegExp(`^${name}: (.*)$`, 'm').exec(text)![1]!;
  }
  const label = signatureInput.slice(0, signatureInput.indexOf('='));
  const inner = /\(([^)]*)\)/.exec(signatureInput)![1]!;
  const components = inner.split(' ').map((c) => c.slice(1, -1));
  const params: [string, string | number][] = [];
  for (const match of signatureInput.slice(signatureInput.indexOf(')') + 1).matchAll(/;([a-z]+)=("[^"]*"|\d+)/g)) {
    const value = match[2]!;
    params.push([match[1]!, value.startsWith('"') ? value.slice(1, -1) : Number(value)]);
  }
  return {
    secretBase64,
    method: requestLine[1]!,
    url: `http://${headers['Host']}${requestLine[2]}`,
    headers,
    components,
    params,
    label,
    signatureBase: base,
    signatureInput,
    signature,
  };
}
