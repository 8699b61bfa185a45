// A fresh clone must pass its tests with nothing beside it: no test, helper, client or example
// reads data from outside the repository (the published vectors used to be read from ../shared).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Files (tracked or new, not ignored) that run as or for tests; package sources have their own rules. */
const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
  cwd: ROOT,
  encoding: 'utf8',
})
  .split('\0')
  .filter((file) => /\.(ts|mts|mjs|js|cjs|py|rb|sh)$/.test(file))
  .filter((file) => !file.startsWith('test-support/vectors/') && existsSync(resolve(ROOT, file)))
  .filter((file) => /(^|\/)(test|test-support|support|examples|scripts|bench|clients)\//.test(`/${file}`));

/** Where a relative reference made from `file` lands, relative to the repository root ('..' when outside). */
function landing(file: string, reference: string): string {
  return relative(ROOT, resolve(ROOT, dirname(file), reference));
}

describe('tests are self-contained', () => {
  it('scans the test code (sanity: the scan finds the files it is meant to check)', () => {
    expect(files).toContain('packages/core/test/rfc9421-b25.test.ts');
    expect(files).toContain('test-support/clients/harness.ts');
    expect(files).toContain('test-support/published-vectors.ts');
  });

  it('no file reads ../shared or any vector folder beside the clone', () => {
    const self = relative(ROOT, fileURLToPath(import.meta.url));
    const offenders = files
      .filter((file) => file !== self)
      .filter((file) => /shared\/vectors/.test(readFileSync(resolve(ROOT, file), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('every new URL(relative, import.meta.url) and relative import stays inside the repository', () => {
    const escapes: string[] = [];
    for (const file of files.filter((f) => /\.(ts|mts|mjs|js|cjs)$/.test(f))) {
      const text = readFileSync(resolve(ROOT, file), 'utf8');
      const references = [
        ...[...text.matchAll(/new URL\(\s*['"`](\.{1,2}\/[^'"`$]*)['"`]\s*,\s*import\.meta\.url/g)].map((m) => m[1]!),
        ...[...text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]*)['"]/g)].map((m) => m[1]!),
      ];
      for (const reference of references) {
        const target = landing(file, reference);
        if (target.startsWith('..')) escapes.push(`${file}: ${reference}`);
      }
    }
    expect(escapes).toEqual([]);
  });

  it('the check itself catches a reference beside the clone', () => {
    expect(landing('packages/core/test/x.test.ts', '../../../../shared/vectors/a.txt').startsWith('..')).toBe(true);
    expect(landing('packages/core/test/x.test.ts', '../../../test-support/vectors/a.txt').startsWith('..')).toBe(false);
  });
});
