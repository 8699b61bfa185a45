import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../package.json', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.[cm]?[jt]s$/.test(name) ? [path] : [];
  });
}

/** Source text without comments, so prose mentioning node:crypto or Buffer does not count. */
function code(path: string): string {
  return readFileSync(path, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
}

describe('packages/core runs in browsers and edge runtimes', () => {
  const files = sourceFiles(SRC);

  it('has source files to scan', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('imports no node:* module and no Node built-in by bare name', () => {
    const offenders = files.filter((file) =>
      /(from\s+|import\s*\(\s*|require\s*\(\s*)['"](node:|(fs|path|crypto|http|https|stream|buffer|url|util|os|net|zlib)(\/[^'"]*)?['"])/.test(
        code(file),
      ),
    );
    expect(offenders).toEqual([]);
  });

  it('never uses Buffer or process', () => {
    const offenders = files.filter((file) => /\bBuffer\b|\bprocess\./.test(code(file)));
    expect(offenders).toEqual([]);
  });

  it('imports only relative modules (zero runtime dependencies)', () => {
    const offenders = files.flatMap((file) =>
      [...code(file).matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)]
        .map((m) => m[1]!)
        .filter((specifier) => !specifier.startsWith('./') && !specifier.startsWith('../'))
        .map((specifier) => `${file}: ${specifier}`),
    );
    expect(offenders).toEqual([]);
    const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as Record<string, unknown>;
    expect(manifest['dependencies'] ?? {}).toEqual({});
  });
});
