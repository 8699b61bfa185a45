// Every published package carries what npm and its users need: licence, README with an install
// command and a runnable example, repository metadata, a build before packing, and a tarball
// with the built code and its sources but no build caches or tests.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packedPackages } from '../../test-support/packed-packages.js';
import { type PublishedPackage, publishedPackages, ROOT, readmeExample } from './support.js';

const packages = publishedPackages();
const REPOSITORY = 'https://github.com/hmac-kit/hmac-kit';

// The real tarballs (prepack run), packed once for every test that needs them (test-support/packed-packages.ts).
const packed = packedPackages().then(
  ({ packages: tarballs }) => new Map(tarballs.map((p) => [p.name, p.files.map((f) => f.path)])),
);
// Packing waits for the build lock and runs every prepack: longer than one test may take on a loaded machine.
beforeAll(() => packed, 900_000);

function exportTargets(pkg: PublishedPackage): string[] {
  const targets: string[] = [];
  for (const target of Object.values(pkg.manifest.exports ?? {})) {
    if (typeof target === 'string') targets.push(target);
    else targets.push(...Object.values(target));
  }
  return targets.map((file) => file.replace(/^\.\//, ''));
}

it('the repository has the MIT licence that package.json names', () => {
  const licence = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  expect(licence).toMatch(/^MIT License\n/);
  expect(licence).toContain('Permission is hereby granted, free of charge');
  expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).license).toBe('MIT');
});

it('internal dependencies pin the version of the package they name', () => {
  const versions = new Map(packages.map((pkg) => [pkg.manifest.name, pkg.manifest.version]));
  for (const pkg of packages) {
    for (const [name, range] of Object.entries(pkg.manifest.dependencies ?? {})) {
      if (versions.has(name))
        expect(`${pkg.manifest.name} -> ${name}@${range}`).toBe(
          `${pkg.manifest.name} -> ${name}@${versions.get(name)}`,
        );
    }
  }
});

describe.each(packages.map((pkg) => [pkg.manifest.name, pkg] as const))('%s', (name, pkg) => {
  const { manifest, dir } = pkg;

  it('has the metadata npm shows and publishes with', () => {
    expect(manifest.license).toBe('MIT');
    expect(manifest.description?.length).toBeGreaterThan(20);
    expect(manifest.keywords).toEqual(expect.arrayContaining(['hmac']));
    expect(manifest.repository).toEqual({ type: 'git', url: `git+${REPOSITORY}.git`, directory: dir });
    expect(manifest.homepage).toBe(`${REPOSITORY}/tree/main/${dir}#readme`);
    expect(manifest.bugs).toEqual({ url: `${REPOSITORY}/issues` });
    expect(manifest.publishConfig?.access).toBe('public');
    // A tarball packed from a clean clone must contain dist: prepack builds it.
    // prune-dist first: tsc -b never deletes the output of a removed module (install.test.ts checks the tarballs).
    expect(manifest.scripts?.prepack).toMatch(/^node \.\.\/\.\.\/scripts\/prune-dist\.mjs && tsc -b( && |$)/);
    for (const [command, file] of Object.entries(manifest.bin ?? {})) {
      // npm rewrites "./bin/x.js" with a warning on publish; write it as npm stores it.
      expect(file, command).not.toMatch(/^\.\//);
      expect(existsSync(join(ROOT, dir, file)), file).toBe(true);
    }
    expect(readFileSync(join(ROOT, dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(ROOT, 'LICENSE'), 'utf8'));
  });

  it('has a README: what it is, how to install it, a runnable example, a link to the docs', () => {
    const readme = readFileSync(join(ROOT, dir, 'README.md'), 'utf8');
    expect(readme.startsWith(`# ${name}\n\n`)).toBe(true);
    const install = /## Install\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(install).toMatch(new RegExp(`^npm install (-g )?${name.replace('/', '\\/')}\\b`, 'm'));
    if (name !== 'hmac-kit') expect(readmeExample(dir), 'a ```js example').toBeDefined();
    const docLinks = [...readme.matchAll(new RegExp(`${REPOSITORY}/blob/main/(docs/[\\w.-]+\\.md)`, 'g'))].map(
      (m) => m[1]!,
    );
    expect(docLinks.length).toBeGreaterThan(0);
    for (const doc of docLinks) expect(existsSync(join(ROOT, doc)), doc).toBe(true);
  });

  it('packs the built code, its sources, README and LICENSE; no build cache, no tests', async () => {
    const files = (await packed).get(name);
    expect(files).toBeDefined();
    const list = files ?? [];
    expect(list).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', ...exportTargets(pkg)]),
    );
    for (const file of Object.values(manifest.bin ?? {})) expect(list).toContain(file);
    // Anything else at the top level must be asked for by name in "files" (e.g. a packaged spec).
    const named = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', ...(manifest.files ?? [])]);
    const unexpected = list.filter((file) => !/^(dist|src|bin)\//.test(file) && !named.has(file));
    expect(unexpected).toEqual([]);
    expect(list.filter((file) => /\.tsbuildinfo$|(^|\/)(test|tests|__tests__)\/|\.test\.[jt]s$/.test(file))).toEqual(
      [],
    );
    if (name === '@hmac-kit/server') expect(list).toContain('dist/console/index.html');
  });
});

// Each example is its own process (servers on port 0): run them side by side.
describe.concurrent('README examples', () => {
  const withExamples = packages.filter((pkg) => readmeExample(pkg.dir) !== undefined);
  it.each(withExamples.map((pkg) => [pkg.manifest.name, pkg.dir] as const))(
    '%s: the README example runs',
    async (_name, dir) => {
      // Evaluated as a module from the package folder, so its imports resolve as in an installed copy.
      const child = execFile(process.execPath, ['--input-type=module'], { cwd: join(ROOT, dir), timeout: 60_000 });
      const output = { stdout: '', stderr: '' };
      child.stdout?.on('data', (chunk) => (output.stdout += chunk));
      child.stderr?.on('data', (chunk) => (output.stderr += chunk));
      child.stdin?.end(readmeExample(dir));
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect({ code, stderr: output.stderr }).toEqual({ code: 0, stderr: '' });
      expect(output.stdout).not.toBe('');
    },
  );
});
