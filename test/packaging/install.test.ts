// What a user gets from npm: every published package is packed (`npm pack`, prepack builds it),
// the tarballs are installed with `npm install` into an empty project outside the repository, and
// the installed copies run: a Node ESM consumer that signs and verifies, an Express app with
// @hmac-kit/express, and the `hmac-kit` command (no native addon installed for it).
// Slow by nature, so cheap by design: one pack, one install, then only processes that check something.
import { execFile } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PackedPackage, packedPackages, userEnv } from '../../test-support/packed-packages.js';
import { publishedPackages, ROOT, readmeExample } from './support.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env = userEnv()): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function must(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(command, args, cwd, env);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

/** Every file below `dir` whose name matches (node_modules included; symlinks not followed). */
function findFiles(dir: string, pattern: RegExp, found: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findFiles(path, pattern, found);
    else if (pattern.test(entry.name)) found.push(path);
  }
  return found;
}

const packages = publishedPackages();
const cliVersion = packages.find((pkg) => pkg.manifest.name === 'hmac-kit')?.manifest.version;
const work = mkdtempSync(join(tmpdir(), 'hmac-kit-install-'));
const project = join(work, 'project');

describe('the packed packages, installed from their tarballs into an empty project', () => {
  let packed: PackedPackage[] = [];
  let tarballs = '';

  beforeAll(async () => {
    // 1. Pack: npm runs each package's prepack (tsc -b, incremental). Shared with the other tests that
    //    need the tarballs, and kept while what goes into them is unchanged (test-support/packed-packages.ts).
    mkdirSync(project);
    const shared = await packedPackages();
    tarballs = shared.dir;
    packed = shared.packages;

    // 2. An empty project outside the repository that depends on every tarball (and Express). Its
    //    lockfile pins third-party packages to the repository's lockfile, so npm takes them from the
    //    cache `npm ci` filled, at the versions the repository tests, instead of resolving anew.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, Record<string, unknown>>;
    };
    const dependencies: Record<string, string> = Object.fromEntries(
      packed.map((p) => [p.name, `file:${join(tarballs, p.filename)}`]),
    );
    dependencies.express = String(lock.packages['node_modules/express']?.version);
    const locked: Record<string, unknown> = { '': { name: 'consumer', dependencies } };
    for (const [path, entry] of Object.entries(lock.packages)) {
      // Third-party packages only: workspace links and the workspaces themselves come from the tarballs.
      if (!path.startsWith('node_modules/') || entry.link || /^node_modules\/(@hmac-kit\/|hmac-kit$)/.test(path))
        continue;
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...rest } = entry;
      locked[path] = rest;
    }
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2),
    );
    writeFileSync(
      join(project, 'package-lock.json'),
      JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages: locked }, null, 2),
    );
    // 3. Install. --prefer-offline: whatever the cache has is used without asking the registry.
    await must('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project);
  }, 900_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('installed every package from its tarball, and no native addon', () => {
    expect(packed.map((p) => p.name).sort()).toEqual(packages.map((pkg) => pkg.manifest.name).sort());
    for (const { name, version } of packed) {
      const installed = join(project, 'node_modules', name);
      expect(lstatSync(installed).isSymbolicLink(), `${name} is a copy, not a link into the repository`).toBe(false);
      expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version).toBe(version);
      expect(existsSync(join(installed, 'test')), `${name} ships no tests`).toBe(false);
    }
    // The database drivers are optional peers: nobody asked for them, so nothing was built.
    expect(existsSync(join(project, 'node_modules/better-sqlite3'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/pg'))).toBe(false);
    expect(findFiles(join(project, 'node_modules'), /\.node$|^binding\.gyp$/)).toEqual([]);
  });

  it('every tarball holds only built modules whose source it also holds (prepack pruned stale output)', () => {
    for (const { name, files } of packed) {
      const list = files.map((file) => file.path);
      const sources = new Set(list.filter((file) => file.startsWith('src/')));
      // dist/console/ is the admin page Vite bundles from packages/console, not tsc output.
      const orphans = list
        .filter((file) => /^dist\/.*\.js$/.test(file) && !file.startsWith('dist/console/'))
        .filter((file) => !sources.has(file.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')));
      expect(orphans, name).toEqual([]);
      expect(
        list.filter((file) => file.endsWith('.tsbuildinfo')),
        name,
      ).toEqual([]);
    }
  });

  it('a Node ESM consumer signs a request and verifies it (the @hmac-kit/core README example)', async () => {
    writeFileSync(join(project, 'sign-and-verify.mjs'), readmeExample('packages/core') ?? '');
    const result = await run(process.execPath, ['sign-and-verify.mjs'], project);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('verified: alice rfc9421');
    expect(result.stdout).toContain('tampered: 401 digest_mismatch');
  });

  it('an Express app with @hmac-kit/express accepts a signed request and refuses an unsigned one (its README example)', async () => {
    writeFileSync(join(project, 'express-app.mjs'), readmeExample('packages/express') ?? '');
    const result = await run(process.execPath, ['express-app.mjs'], project);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain("signed: 201 { by: 'alice', order: { sku: 'A1' } }");
    expect(result.stdout).toContain('unsigned: 401 signature_missing');
  });

  it('npx hmac-kit --version prints the version of the installed package', async () => {
    const result = await run('npx', ['--offline', 'hmac-kit', '--version'], project);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout.trim()).toBe(cliVersion);
  });

  it('hmac-kit sign prints headers that the installed @hmac-kit/core verifies', async () => {
    const secret = `hks_${Buffer.alloc(32, 9).toString('base64url')}`;
    const url = 'https://api.example.com/v1/orders?id=7';
    const signed = await run(
      join(project, 'node_modules/.bin/hmac-kit'),
      ['--json', 'sign', 'GET', url, '--key-id', 'hk_demo', '--secret-env', 'SECRET'],
      project,
      userEnv({ SECRET: secret }),
    );
    expect(signed).toMatchObject({ code: 0, stderr: '' });
    const { headers } = JSON.parse(signed.stdout) as { headers: Record<string, string> };
    writeFileSync(
      join(project, 'verify-cli.mjs'),
      `import { parseSecret, verifyRequest } from '@hmac-kit/core';
const key = { keyId: 'hk_demo', secret: parseSecret(process.env.SECRET), algorithm: 'sha256' };
const verified = await verifyRequest(new Request(${JSON.stringify(url)}, { headers: ${JSON.stringify(headers)} }), { keys: () => key });
console.log(verified.keyId, verified.coveredComponents.join(' '));
`,
    );
    const verified = await run(process.execPath, ['verify-cli.mjs'], project, userEnv({ SECRET: secret }));
    expect(verified).toMatchObject({ code: 0, stderr: '' });
    expect(verified.stdout.trim()).toBe('hk_demo @method @authority @path @query');
  });

  it('a key command without the SQLite driver says in one line how to add it, and creates nothing', async () => {
    const result = await run(join(project, 'node_modules/.bin/hmac-kit'), ['principals', 'list'], project);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^hmac-kit: .*npm install better-sqlite3/),
    ]);
    expect(existsSync(join(project, '.hmac-kit'))).toBe(false);
  });
});
