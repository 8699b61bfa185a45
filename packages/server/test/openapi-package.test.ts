import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedPackages } from '../../../test-support/packed-packages.js';
import { repoRoot } from '../../../test-support/processes.js';

// An npm install of @hmac-kit/server has no docs/ folder beside it: /openapi.json must come from
// the package's own copy of docs/openapi.yaml (made by prepack), or an installed server answers 404.
const serverDir = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hmac-kit-openapi-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the published @hmac-kit/server carries its OpenAPI description', () => {
  // Packing waits for the build lock and runs every prepack: longer than one test may take on a loaded machine.
  beforeAll(() => packedPackages(), 900_000);

  it('npm pack includes openapi.yaml, identical to docs/openapi.yaml', async () => {
    // The real tarball (prepack run), packed once for every test that needs it.
    const { dir, packages } = await packedPackages();
    const packed = packages.find((pkg) => pkg.name === '@hmac-kit/server');
    expect(packed?.files.map((file) => file.path)).toContain('openapi.yaml');
    const unpacked = join(scratch, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', join(dir, packed?.filename ?? ''), '-C', unpacked]);
    expect(readFileSync(join(unpacked, 'package/openapi.yaml'), 'utf8')).toBe(
      readFileSync(join(repoRoot, 'docs/openapi.yaml'), 'utf8'),
    );
  });

  it('an installed layout (no docs/ folder) serves the packaged copy', async () => {
    // The built module in a package folder of its own, as npm installs it, with dependencies resolvable.
    const installed = join(scratch, 'installed');
    mkdirSync(join(installed, 'dist'), { recursive: true });
    cpSync(join(serverDir, 'dist/openapi.js'), join(installed, 'dist/openapi.js'));
    cpSync(join(serverDir, 'dist/openapi.js.map'), join(installed, 'dist/openapi.js.map'));
    writeFileSync(join(installed, 'package.json'), '{"type":"module"}');
    symlinkSync(join(repoRoot, 'node_modules'), join(installed, 'node_modules'));
    writeFileSync(join(installed, 'openapi.yaml'), 'openapi: 3.1.0\ninfo: { title: packaged copy, version: "1" }\n');
    const module = (await import(pathToFileURL(join(installed, 'dist/openapi.js')).href)) as {
      openApiJson(): Promise<string>;
    };
    expect(JSON.parse(await module.openApiJson())).toMatchObject({ info: { title: 'packaged copy' } });
  });
});
