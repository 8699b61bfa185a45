import { relative } from 'node:path';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

/** What one run counted, from the same per-test results vitest's own summary counts. */
export interface RunSummary {
  /** Tests vitest reports as passed (its "Tests" line). */
  passed: number;
  /** Tests vitest reports as failed. */
  failed: number;
  /** Tests vitest reports as skipped or todo. */
  skipped: number;
  /** Tests collected but never finished (a failing hook or an aborted run): in vitest's total only. */
  notRun: number;
  /** Test files that failed with no failing test in them (an import, collection or hook error), relative to the working folder. */
  failedFiles: string[];
  /** Errors outside any test (unhandled rejections, worker errors). */
  unhandledErrors: number;
}

/**
 * Counts a run from vitest's reported test cases. `TestCase.result().state` is derived from
 * the same task results vitest's "Tests" line counts (passed = pass, failed = fail, skipped =
 * skip or todo), so the numbers agree by construction; what that line leaves out (files that
 * failed to load, unhandled errors, tests that never ran) is kept apart rather than folded into
 * "failed", which would make the line disagree with vitest's.
 *
 * @example
 * const summary = summarizeRun(testModules, unhandledErrors);
 * console.log(formatSummaryLines(summary).join('\n'));
 */
export function summarizeRun(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<unknown> = [],
): RunSummary {
  const summary: RunSummary = {
    passed: 0,
    failed: 0,
    skipped: 0,
    notRun: 0,
    failedFiles: [],
    unhandledErrors: unhandledErrors.length,
  };
  for (const testModule of testModules) {
    let failedHere = 0;
    for (const testCase of testModule.children.allTests()) {
      const state = testCase.result().state;
      if (state === 'passed') summary.passed++;
      else if (state === 'failed') {
        summary.failed++;
        failedHere++;
      } else if (state === 'skipped') summary.skipped++;
      else summary.notRun++;
    }
    if (testModule.state() === 'failed' && failedHere === 0) {
      summary.failedFiles.push(relative(process.cwd(), testModule.moduleId));
    }
  }
  return summary;
}

/**
 * The closing lines: at most one line naming failures outside tests, then always the plain
 * `vitest: N passed, N failed, N skipped` line (last, so log readers find it), whose numbers are
 * vitest's own "Tests" counts.
 *
 * @example
 * formatSummaryLines({ passed: 3, failed: 1, skipped: 0, notRun: 0, failedFiles: [], unhandledErrors: 0 });
 * // ['vitest: 3 passed, 1 failed, 0 skipped']
 */
export function formatSummaryLines(summary: RunSummary): string[] {
  const outside: string[] = [];
  if (summary.failedFiles.length > 0) {
    outside.push(
      `${summary.failedFiles.length} test file(s) failed outside any test (${summary.failedFiles.join(', ')})`,
    );
  }
  if (summary.unhandledErrors > 0) outside.push(`${summary.unhandledErrors} unhandled error(s)`);
  if (summary.notRun > 0) outside.push(`${summary.notRun} test(s) never ran`);
  const lines = outside.length > 0 ? [`vitest: the run FAILED outside the test counts: ${outside.join('; ')}`] : [];
  lines.push(`vitest: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  return lines;
}

/**
 * Prints one plain closing line, `vitest: N passed, N failed, N skipped`, so that CI logs can be
 * read by tools that do not understand vitest's own summary; failures that are not test failures
 * get a line of their own just before it.
 */
export class SummaryLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const lines = formatSummaryLines(summarizeRun(testModules, unhandledErrors));
    // Written at exit so it is the very last line, after vitest's own summary.
    process.once('exit', () => {
      process.stdout.write(`\n${lines.join('\n')}\n`);
    });
  }
}
