// The release process (DEVELOPERS.md, "Releasing"): changesets versions every package together, rewrites
// the internal dependency pins and writes each package's CHANGELOG. Run for real on a copy of the manifests.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { publishedPackages, ROOT } from './support.js';

const run = promisify(execFile);
const packages = publishedPackages();
const names = packages.map((pkg) => pkg.manifest.name);
const work = mkdtempSync(join(tmpdir(), 'hmac-kit-release-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function bump(version: string, part: 'minor' | 'patch'): string {
  const [major, minor, patch] = version.split('.').map(Number) as [number, number, number];
  return part === 'minor' ? `${major}.${minor + 1}.0` : `${major}.${minor}.${patch + 1}`;
}

it('every published package has a CHANGELOG that starts with its name', () => {
  for (const { dir, manifest } of packages) {
    const changelog = readFileSync(join(ROOT, dir, 'CHANGELOG.md'), 'utf8');
    expect(changelog.startsWith(`# ${manifest.name}\n\n## `), dir).toBe(true);
    expect(changelog).toContain(`## ${manifest.version}\n`);
    expect(manifest.files).toContain('CHANGELOG.md');
  }
});

it('the changesets config puts every published package in one fixed group, published publicly', () => {
  const config = JSON.parse(readFileSync(join(ROOT, '.changeset/config.json'), 'utf8'));
  expect(config).toMatchObject({ access: 'public', baseBranch: 'main', updateInternalDependencies: 'patch' });
  expect(config.fixed).toEqual([['@hmac-kit/*', 'hmac-kit']]);
  // No package left out by a rename: the patterns must cover every name.
  for (const name of names) expect(name === 'hmac-kit' || name.startsWith('@hmac-kit/'), name).toBe(true);
});

it('a changeset for one package releases all of them under one version, with pins and changelogs updated', async () => {
  // A copy of what changesets reads and writes: the root manifest, config, each package's manifest and CHANGELOG.
  cpSync(join(ROOT, 'package.json'), join(work, 'package.json'));
  mkdirSync(join(work, '.changeset'));
  cpSync(join(ROOT, '.changeset/config.json'), join(work, '.changeset/config.json'));
  for (const { dir } of packages) {
    mkdirSync(join(work, dir), { recursive: true });
    for (const file of ['package.json', 'CHANGELOG.md']) cpSync(join(ROOT, dir, file), join(work, dir, file));
  }
  const core = packages.find((pkg) => pkg.manifest.name === '@hmac-kit/core');
  const before = core?.manifest.version ?? '';
  const next = bump(before, 'minor');
  writeFileSync(
    join(work, '.changeset/core-feature.md'),
    '---\n"@hmac-kit/core": minor\n---\n\ncreateSignedFetch signs a Request object too.\n',
  );

  await run(join(ROOT, 'node_modules/.bin/changeset'), ['version'], { cwd: work, env: { ...process.env, CI: 'true' } });

  expect(readdirSync(join(work, '.changeset')).filter((file) => file.endsWith('.md'))).toEqual([]);
  for (const { dir, manifest } of packages) {
    const updated = JSON.parse(readFileSync(join(work, dir, 'package.json'), 'utf8'));
    expect(`${manifest.name}@${updated.version}`).toBe(`${manifest.name}@${next}`);
    for (const [name, range] of Object.entries(updated.dependencies ?? {})) {
      if (names.includes(name))
        expect(`${manifest.name} -> ${name}@${range}`).toBe(`${manifest.name} -> ${name}@${next}`);
    }
    const changelog = readFileSync(join(work, dir, 'CHANGELOG.md'), 'utf8');
    expect(changelog.startsWith(`# ${manifest.name}\n\n## ${next}\n`), dir).toBe(true);
    expect(changelog).toContain(`## ${before}\n`);
  }
  expect(readFileSync(join(work, core?.dir ?? '', 'CHANGELOG.md'), 'utf8')).toContain(
    '### Minor Changes\n\n- createSignedFetch signs a Request object too.',
  );
});
