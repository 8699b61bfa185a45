/**
 * Review of fix24's `Tracing.shutdown()` (session 24, helper review24).
 *
 * 1. An embedding process with OpenTelemetry of its own: its SDK registered the API's globals (tracer
 *    provider, context manager, propagator) before `startServer`, and OTEL_EXPORTER_OTLP_ENDPOINT,
 *    which its SDK reads, also starts hmac-kit's tracing (whose registration of the taken globals
 *    fails, as the API refuses a second one). hmac-kit's shutdown (at close, or after a failed start)
 *    gave the globals up whoever had registered them: the embedder's spans stopped recording, its
 *    context no longer followed an await, its propagator was gone. It now gives up only those it
 *    registered itself.
 * 2. startTracing() counted its caller as a user only after awaiting the shared start: a last user's
 *    shutdown in between stopped the SDK under the new one, which got a tracing already shut down.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildOnce, cleanEnv } from '../../../../test-support/processes.js';
import type { Tracing } from '../../src/tracing-contract.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp.js';

const embedder = fileURLToPath(new URL('../support/review24-tracing-embedder.mjs', import.meta.url));

interface EmbedderState {
  recording: boolean;
  contextKept: boolean;
  injected: string[];
}

describe("review24: hmac-kit's tracing shutdown leaves an embedder's OpenTelemetry alone", () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    buildOnce();
    receiver = await startOtlpReceiver();
  }, 90_000);
  afterAll(async () => {
    await receiver?.close();
  });

  for (const step of ['close', 'failed-start']) {
    it(`after a server's ${step}, the embedder's spans record, its context and propagator work`, async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [embedder], {
        env: cleanEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_BSP_SCHEDULE_DELAY: '600000',
          HMAC_KIT_TEST_STEP: step,
        }),
        timeout: 60_000,
      });
      const report = JSON.parse(stdout.trim()) as { before: EmbedderState; after: EmbedderState };
      expect(report.before).toEqual({ recording: true, contextKept: true, injected: ['traceparent'] });
      expect(report.after).toEqual(report.before);
    });
  }
});

// The SDK replaced by a counter of its shutdowns: what is under test is startTracing's user count.
const sdk = vi.hoisted(() => ({ created: 0, shutdowns: 0 }));
vi.mock('../../src/tracing-sdk.js', () => ({
  createTracing: (): Partial<Tracing> => {
    sdk.created++;
    let down = false;
    return {
      propagationHeaders: [],
      flush: async () => {},
      shutdown: async () => {
        if (down) throw new Error('shut down twice');
        down = true;
        sdk.shutdowns++;
      },
    };
  },
}));

describe('review24: startTracing counts a user from its call', () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9/' };

  it("a last user's shutdown while another start awaits the shared one does not stop the SDK under it", async () => {
    const { startTracing } = await import('../../src/tracing.js');
    const a = await startTracing(env, { version: 'test' });
    // B starts (its await of the shared, already started SDK pending), then A shuts down.
    const starting = startTracing(env, { version: 'test' });
    await a?.shutdown();
    const b = await starting;
    expect(sdk.created).toBe(1);
    expect(sdk.shutdowns).toBe(0);
    // B is the last user: its shutdown stops the SDK; a second shutdown does nothing.
    await b?.shutdown();
    await b?.shutdown();
    await a?.shutdown();
    expect(sdk.shutdowns).toBe(1);
    // A start after it starts a new one.
    const c = await startTracing(env, { version: 'test' });
    expect(sdk.created).toBe(2);
    await c?.shutdown();
    expect(sdk.shutdowns).toBe(2);
  });
});
