import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The console is typed against the admin API through types generated from docs/openapi.yaml.
// A change to the description without `npm run generate -w @hmac-kit/console` fails here.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GENERATED = join(ROOT, 'packages/console/src/generated/openapi.ts');

describe('console API types', () => {
  it('are generated from the current docs/openapi.yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-openapi-ts-'));
    try {
      const output = join(dir, 'openapi.ts');
      execFileSync(
        process.execPath,
        [
          join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'),
          'docs/openapi.yaml',
          '--enum-values',
          '--output',
          output,
        ],
        { cwd: ROOT, stdio: 'pipe' },
      );
      expect(readFileSync(GENERATED, 'utf8'), 'run: npm run generate -w @hmac-kit/console').toBe(
        readFileSync(output, 'utf8'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
