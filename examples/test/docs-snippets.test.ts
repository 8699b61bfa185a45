// The code blocks of README.md and docs/*.md, run as written (scripts/docs-snippets.ts says how a
// block is marked). The README quickstart runs against a real `hmac-kit serve` started the way
// `npm start` starts it; only the ports (free ones instead of 8080/8081/3000) and the database
// location (a temp folder instead of the clone's .hmac-kit/) differ from what a reader types.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createSignedFetch, formatSecret } from '@hmac-kit/core';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { documentationSnippets, type Snippet, unmarkedCodeBlocks } from '../../scripts/docs-snippets.js';
import { buildForProcesses } from '../../test-support/clients/harness.js';
import { freePort } from '../../test-support/ports.js';
import { collectOutput } from '../../test-support/processes.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const snippets = documentationSnippets(ROOT);

/** The `run` snippets this file executes; a new one in the docs must be added here. */
const EXECUTED = [
  'quickstart-key',
  'quickstart-request',
  'migration-usage',
  'quickstart-signed-fetch',
  'quickstart-express',
  'quickstart-verify-request',
  'quickstart-gateway',
  'quickstart-gateway-request',
  'middleware-keys',
  'middleware-express',
  'middleware-fastify',
  'middleware-node-http',
];

function snippet(id: string): Snippet {
  const found = snippets.filter((item) => item.mark.kind === 'run' && item.mark.id === id);
  expect(found, `exactly one snippet with id=${id}`).toHaveLength(1);
  return found[0]!;
}

/** Environment of the processes: nothing HMAC_KIT_* from the developer's shell, plus `extra`. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HMAC_KIT_')));
  return { ...clean, ...extra };
}

/**
 * Writes a stand-in for `npx` into `dir`: it runs `node_modules/.bin/<name>` of this repository, what
 * `npx <name>` resolves a workspace's bin to, and refuses anything else (an option before the name,
 * or a name with no linked bin: the real npx would go to the registry for it). The real npx costs
 * ~0.7 s of CPU more per call (npm's CLI loading, then a shell) for the same hmac-kit process; the
 * first step of the quickstart still runs the real one, so `npx hmac-kit` resolving in a clone stays
 * proven, as does `npx --offline hmac-kit` in an installed project (test/packaging/install.test.ts).
 */
function writeNpxStandIn(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'npx');
  writeFileSync(
    file,
    `#!/bin/sh
bin="${join(ROOT, 'node_modules/.bin')}/$1"
case "$1" in -*|'') echo "npx stand-in: no options, only a bin name: $*" >&2; exit 127;; esac
[ -x "$bin" ] || { echo "npx stand-in: $1 is not a bin of this repository" >&2; exit 127; }
shift
exec "$bin" "$@"
`,
  );
  chmodSync(file, 0o755);
}

/** A long-running process, resolved once a line of its output matches `ready`. */
interface Running {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function startUntil(command: string, args: string[], options: { env: NodeJS.ProcessEnv; ready: RegExp }) {
  // A process group of its own: `npx` and `npm start` run the server as a grandchild, which a signal to
  // the child alone left running (one orphaned `hmac-kit serve --upstream` per run); the group is signalled.
  const child = spawn(command, args, {
    cwd: ROOT,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      child.kill(signal);
    }
  };
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<Running>((resolve, reject) => {
    const timer = setTimeout(() => {
      signalGroup('SIGKILL');
      reject(new Error(`${args.join(' ')} did not get ready: ${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (options.ready.test(output)) {
        clearTimeout(timer);
        resolve({
          child,
          output: () => output,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) signalGroup('SIGTERM');
            await exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code} before it was ready: ${output}`));
    });
  });
}

/** The `url` of the server's `listening` log line. */
function listeningUrl(output: string): string {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'listening' && entry.url) return entry.url;
  }
  throw new Error(`no listening line in ${output}`);
}

describe('documentation code blocks', () => {
  it('every js/ts/sh block of README.md and docs/*.md says whether it runs (and run ids are unique)', () => {
    const unmarked = unmarkedCodeBlocks(snippets).map((item) => `${item.file}:${item.line}`);
    expect(unmarked).toEqual([]);
    const ids = snippets.flatMap((item) => (item.mark.kind === 'run' ? [item.mark.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    // Each run snippet is executed below: none may be marked and forgotten.
    expect([...ids].sort()).toEqual([...EXECUTED].sort());
  });

  it('every "file" block is that file, verbatim (the file is run by its own test)', () => {
    const files = snippets.flatMap((item) => (item.mark.kind === 'file' ? [{ item, path: item.mark.path }] : []));
    expect(files.length).toBeGreaterThan(0);
    for (const { item, path } of files) {
      const source = readFileSync(join(ROOT, path), 'utf8').replace(/^#!.*\n/, '');
      expect(item.code.replace(/^#!.*\n/, '').trim(), `${item.file}:${item.line} vs ${path}`).toBe(source.trim());
    }
  });
});

describe('README quickstart, as written, against a real hmac-kit serve', () => {
  let dir: string;
  let scratch: string;
  let server: Running;
  let serverOrigin: string;
  let keyId = '';
  let secret = '';
  /** The first step's environment: the real npx. */
  const realNpxEnv = () => env({ HMAC_KIT_DATABASE_URL: join(dir, 'hmac-kit.db'), HMAC_KIT_WORKERS: '1' });
  /** Every later step's: `npx` is the stand-in (writeNpxStandIn). */
  const baseEnv = () =>
    env({
      ...(realNpxEnv() as Record<string, string>),
      PATH: `${join(scratch, 'bin')}${delimiter}${process.env.PATH ?? ''}`,
    });
  const withKey = () => env({ ...(baseEnv() as Record<string, string>), HMAC_KEY_ID: keyId, HMAC_SECRET: secret });
  /** The reader's ports, mapped to the ones this run uses. */
  const ports: Record<string, string> = {};
  function localize(code: string): string {
    let out = code;
    for (const [from, to] of Object.entries(ports)) out = out.replaceAll(from, to);
    return out;
  }
  const sh = (code: string, extraEnv: NodeJS.ProcessEnv) =>
    collectOutput(
      spawn('bash', ['-euo', 'pipefail', '-c', localize(code)], {
        cwd: ROOT,
        env: extraEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  /** Writes a js snippet as a .mjs file inside the repository, so its imports resolve as in a project. */
  function moduleFile(item: Snippet): string {
    const file = join(scratch, `${item.mark.kind === 'run' ? item.mark.id : 'snippet'}.mjs`);
    writeFileSync(file, localize(item.code));
    return file;
  }

  beforeAll(async () => {
    buildForProcesses(['packages/cli', 'packages/express']);
    dir = mkdtempSync(join(tmpdir(), 'hmac-kit-readme-'));
    mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
    scratch = mkdtempSync(join(ROOT, 'node_modules/.cache/docs-snippets-'));
    writeNpxStandIn(join(scratch, 'bin'));
    // Step 1: what `npm start` runs (package.json decides), on a free port.
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } })
      .scripts.start;
    server = await startUntil('bash', ['-c', start], {
      env: { ...baseEnv(), HMAC_KIT_PORT: '0' },
      ready: /"msg":"listening"/,
    });
    serverOrigin = listeningUrl(server.output()).replace(/^http:\/\//, '');
    ports['127.0.0.1:8080'] = serverOrigin;
    const app = await freePort();
    ports['127.0.0.1:3000'] = `127.0.0.1:${app}`;
    ports['listen(3000,'] = `listen(${app},`;
    const gateway = await freePort();
    ports['--port 8081'] = `--port ${gateway}`;
    ports['127.0.0.1:8081'] = `127.0.0.1:${gateway}`;
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('step 1: creates a principal and a key with npx hmac-kit', async () => {
    // The real npx: the later steps' stand-in does what it resolves `npx hmac-kit` to here.
    const result = await sh(snippet('quickstart-key').code, realNpxEnv());
    expect(result.stderr).not.toMatch(/error|refused/i);
    expect(result.code).toBe(0);
    keyId = /key id:\s+(hk_\S+)/.exec(result.stdout)?.[1] ?? '';
    secret = /secret:\s+(hks_\S+)/.exec(result.stdout)?.[1] ?? '';
    expect(keyId).toMatch(/^hk_/);
    expect(secret).toMatch(/^hks_/);
  });

  it('step 2: the CLI request to /v1/whoami answers 200 for alice', async () => {
    const result = await sh(snippet('quickstart-request').code, withKey());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(result.stdout).toContain('"principal":"alice"');
  });

  it('migration.md: keys usage lists the key of step 1 with the scheme its request was verified with', async () => {
    // Written by the running server at its next change-feed poll: read until it is there (bounded by
    // the test timeout, 120 s: one `keys usage` process took several seconds at load 25 on 2 cores).
    await vi.waitFor(
      async () => {
        const result = await sh(snippet('migration-usage').code, baseEnv());
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(new RegExp(`^${keyId}\\s+alice\\s+rfc9421\\s+\\d+\\s+\\S+Z$`, 'm'));
      },
      { timeout: 110_000, interval: 200 },
    );
  });

  it('step 2: the createSignedFetch snippet runs as a .mjs file and prints alice', async () => {
    const file = moduleFile(snippet('quickstart-signed-fetch'));
    const result = await collectOutput(spawn(process.execPath, [file], { cwd: scratch, env: withKey() }));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/principal: 'alice'/);
    expect(result.stdout).toContain(keyId);
  });

  it('step 3: the Express snippet verifies the key from step 1 (and refuses a wrong secret)', async () => {
    const app = await startUntil(process.execPath, [moduleFile(snippet('quickstart-express'))], {
      env: withKey(),
      ready: /listening on/,
    });
    try {
      const origin = `http://${ports['127.0.0.1:3000']}`;
      const signedFetch = createSignedFetch({ keyId, secret });
      const ok = await signedFetch(`${origin}/orders`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ orders: [], by: 'alice' });
      const wrong = createSignedFetch({ keyId, secret: `hks_${Buffer.alloc(32, 7).toString('base64url')}` });
      const refused = await wrong(`${origin}/orders`);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe('signature_invalid');
      // The call the README shows right after the snippet.
      const cli = await sh(
        `npx hmac-kit request GET http://127.0.0.1:3000/orders --key-id "$HMAC_KEY_ID" --secret-env HMAC_SECRET`,
        withKey(),
      );
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toContain('"by":"alice"');
      expect(app.output()).not.toMatch(/error/i);
    } finally {
      await app.stop();
    }
  });

  it('step 3: the verifyRequest snippet prints the key id and the covered components', async () => {
    const file = moduleFile(snippet('quickstart-verify-request'));
    const result = await collectOutput(spawn(process.execPath, [file], { cwd: scratch, env: withKey() }));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(keyId);
    expect(result.stdout).toContain("'@method'");
  });

  it('step 4: the gateway runs beside the step 1 server and forwards a signed request', async () => {
    const received: string[] = [];
    const upstream: Server = createServer((request, response) => {
      received.push(`${request.method} ${request.url} ${request.headers['x-authenticated-principal']}`);
      response.writeHead(200, { 'content-type': 'text/plain' }).end('hello from the service\n');
    });
    const upstreamPort = Number(ports['127.0.0.1:3000']!.split(':')[1]);
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
    // As written, the gateway gets its own port: step 1's server still holds 8080.
    expect(snippet('quickstart-gateway').code).toMatch(/--port (?!8080\b)\d+/);
    const [command, ...args] = localize(snippet('quickstart-gateway').code).trim().split(/\s+/);
    expect(command).toBe('npx');
    const gateway = await startUntil('npx', args, { env: baseEnv(), ready: /"msg":"listening"/ });
    try {
      const result = await sh(snippet('quickstart-gateway-request').code, withKey());
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(result.stdout).toContain('hello from the service');
      expect(received).toEqual(['GET / alice']);
    } finally {
      await gateway.stop();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

/** Resolves once something accepts connections on `port` (the examples print nothing when they listen). */
async function listening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: 'localhost', port }, () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (child.exitCode !== null) throw new Error(`the example exited with ${child.exitCode}: ${output()}`);
    if (Date.now() > deadline) throw new Error(`the example did not listen on ${port}: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('docs/middleware.md examples, with the keys of its "Keys" section, as written', () => {
  let scratch: string;
  beforeAll(() => {
    buildForProcesses(['packages/express', 'packages/fastify', 'packages/node-http']);
    mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
    scratch = mkdtempSync(join(ROOT, 'node_modules/.cache/docs-middleware-'));
  }, 300_000);
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  for (const id of ['middleware-express', 'middleware-fastify', 'middleware-node-http']) {
    it(`${id}: a signed order is accepted with the key's principal, a wrong secret is refused`, async () => {
      const port = await freePort();
      // The Keys block, then the example; only the port differs from what the page shows.
      const source = `${snippet('middleware-keys').code}\n${snippet(id).code}`
        .replace('listen(3000)', `listen(${port})`)
        .replace('listen({ port: 3000 })', `listen({ port: ${port} })`);
      expect(source).toContain(String(port));
      // The page's TypeScript with its types stripped (esbuild, as tsx does), run by plain node: tsx's
      // loader and its esbuild service cost ~0.5 s of CPU per example, and the page names no runner.
      const file = join(scratch, `${id}.mjs`);
      writeFileSync(file, (await transform(source, { loader: 'ts', format: 'esm', target: 'node20' })).code);
      const secret = formatSecret(crypto.getRandomValues(new Uint8Array(32)));
      const child = spawn(process.execPath, [file], {
        cwd: ROOT,
        env: env({ BILLING_SECRET: secret }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const ran = collectOutput(child);
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
      });
      try {
        await listening(port, child, () => output);
        const order = {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sku: 'A1', quantity: 2 }),
        };
        const accepted = await createSignedFetch({ keyId: 'hk_billing', secret })(
          `http://localhost:${port}/orders`,
          order,
        );
        expect(accepted.status, output).toBe(201);
        expect(await accepted.json()).toEqual({ by: 'billing', order: { sku: 'A1', quantity: 2 } });
        const wrong = formatSecret(crypto.getRandomValues(new Uint8Array(32)));
        const refused = await createSignedFetch({ keyId: 'hk_billing', secret: wrong })(
          `http://localhost:${port}/orders`,
          order,
        );
        expect(refused.status).toBe(401);
      } finally {
        child.kill('SIGTERM');
        await ran;
      }
    });
  }
});
