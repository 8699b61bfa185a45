/**
 * Session 24 (helper fix24): `startServer` started OpenTelemetry tracing before `openServices`,
 * and a start that failed there (fix23 made openServices close its own steps) left tracing running:
 * hmac-kit's tracer provider registered as the process' global one, the undici instrumentation on,
 * the batch processor and its exporter alive. An embedder that catches the error and goes on had
 * every later span of its own (and each of its fetch() calls) recorded and exported to the
 * collector, with an export timer running. `Tracing` had only `flush()`; it now has `shutdown()`
 * (the SDK's provider shutdown, the instrumentation unregistered, the API globals given up), called
 * on a failed start and at close (the last server of the process stops the SDK; a later start
 * starts it again).
 *
 * The real SDK in a child process (support/tracing-lifecycle.mjs) exporting to an OTLP receiver
 * started here, as tracing.test.ts does; the child reports the process-level state after each step.
 */
import { execFile } from 'node:child_process';

import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, cleanEnv } from '../../../test-support/processes.js';
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp.js';

const lifecycle = fileURLToPath(new URL('./support/tracing-lifecycle.mjs', import.meta.url));

interface StepReport {
  step: string;
  error?: string;
  status?: number;
  recording: boolean;
  resources: string[];
}

describe('fix24: tracing is shut down after a failed start and at close', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    buildOnce();
    receiver = await startOtlpReceiver();
  }, 90_000);
  afterAll(async () => {
    await receiver?.close();
  });

  async function run(step: string, extra: Record<string, string> = {}): Promise<StepReport[]> {
    const { stdout } = await promisify(execFile)(process.execPath, [lifecycle], {
      env: cleanEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        // Never exported on the batch processor's schedule within the test: only a flush or shutdown exports.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        HMAC_KIT_TEST_STEP: step,
        ...extra,
      }),
      timeout: 60_000,
    });
    return stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StepReport);
  }

  it('a start refused in openServices leaves no tracer provider registered and no export timer', async () => {
    const [report] = await run('failed-start');
    expect(report?.error).toMatch(/maxEntries/);
    // A span the process starts afterwards is not recorded (so nothing is exported), and ending it
    // starts no batch processor timer.
    expect(report?.recording).toBe(false);
    expect(report?.resources).not.toContain('Timeout');
  });

  it('close exports the buffered spans and stops tracing; a server started after it traces again', async () => {
    const reports = await run('close-and-restart');
    expect(reports).toHaveLength(2);
    for (const report of reports) {
      expect(report.status).toBe(200);
      expect(report.recording).toBe(false);
      expect(report.resources).not.toContain('Timeout');
    }
    // Each server's request span was exported by its close (the schedule never ran), the second's
    // by a tracer provider started again after the first was shut down.
    expect(receiver.spans.filter((span) => span.name === 'GET /healthz' && span.kind === 2)).toHaveLength(2);
  });
});
