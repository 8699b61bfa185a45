// The plain closing line of scripts/summary-reporter.ts must say what vitest's own summary says:
// a real vitest run over fixtures with every outcome (pass, fail, skip, todo, ctx.skip, a file that
// fails at import, a failing beforeAll, an unhandled rejection), both summaries compared.
// The old reporter counted a file that failed to load as one more failed test (3 failed vs 2).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatSummaryLines } from '../scripts/summary-reporter.js';

const FIXTURES = fileURLToPath(new URL('./summary-reporter/fixtures/', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

function runFixtures(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VITEST, 'run'], {
      cwd: FIXTURES,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Parses vitest's own "Tests  1 failed | 3 passed | 3 skipped | 1 todo (8)" line. */
function vitestCounts(output: string): Record<'failed' | 'passed' | 'skipped' | 'todo' | 'total', number> {
  const line = /^\s*Tests\s+(.*)\((\d+)\)\s*$/m.exec(output);
  if (!line) throw new Error(`no "Tests" line in:\n${output}`);
  const count = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(line[1]!)?.[1] ?? 0);
  return {
    failed: count('failed'),
    passed: count('passed'),
    skipped: count('skipped'),
    todo: count('todo'),
    total: Number(line[2]),
  };
}

describe('summary line', () => {
  it('agrees with vitest’s own counts, and names failures that are not test failures', async () => {
    const { code, output } = await runFixtures();
    expect(code).toBe(1);
    const own = vitestCounts(output);
    const lines = output.trimEnd().split('\n');
    const last = lines.at(-1)!;
    const ours = /^vitest: (\d+) passed, (\d+) failed, (\d+) skipped$/.exec(last);
    expect(ours, last).not.toBeNull();
    expect({ passed: Number(ours![1]), failed: Number(ours![2]), skipped: Number(ours![3]) }).toEqual({
      passed: own.passed,
      failed: own.failed,
      skipped: own.skipped + own.todo,
    });
    // The fixtures' known outcome, so that the comparison is not between two empty runs.
    expect(own).toEqual({ failed: 1, passed: 3, skipped: 3, todo: 1, total: 8 });
    const outside = lines.at(-2)!;
    expect(outside).toMatch(/^vitest: the run FAILED outside the test counts: /);
    expect(outside).toContain('broken.fixture.ts');
    expect(outside).toContain('hook.fixture.ts');
    expect(outside).toContain('1 unhandled error(s)');
    expect(/^\s*Errors\s+1 error/m.test(output)).toBe(true);
  });

  it('is the plain line alone when nothing failed outside the tests', () => {
    expect(
      formatSummaryLines({ passed: 5, failed: 0, skipped: 2, notRun: 0, failedFiles: [], unhandledErrors: 0 }),
    ).toEqual(['vitest: 5 passed, 0 failed, 2 skipped']);
  });
});
