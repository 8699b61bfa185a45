// review24: a process that embeds `hmac-kit serve` and has OpenTelemetry of its own (its own
// NodeTracerProvider registered first, with its context manager and propagator), with
// OTEL_EXPORTER_OTLP_ENDPOINT set (which its own SDK reads too, so hmac-kit starts tracing as well).
// It starts a server, has it answer one request, closes it, and prints one JSON line: whether the
// embedder's OpenTelemetry still works afterwards (its spans record, its context follows an await,
// its propagator injects). review24-tracing.test.ts.
import { randomBytes } from 'node:crypto';
import { context, createContextKey, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { loadConfig, startServer } from '../../dist/index.js';

const own = new NodeTracerProvider();
own.register();

const config = loadConfig({
  flags: {
    port: 0,
    database: ':memory:',
    masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
    logLevel: 'silent',
  },
  env: {},
});

async function embedderState() {
  const span = trace.getTracer('embedder').startSpan('after');
  const recording = span.isRecording();
  const key = createContextKey('embedder');
  const mine = ROOT_CONTEXT.setValue(key, 'mine');
  const contextKept = await context.with(mine, async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return context.active().getValue(key) === 'mine';
  });
  const carrier = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  span.end();
  return { recording, contextKept, injected: Object.keys(carrier) };
}

const step = process.env.HMAC_KIT_TEST_STEP;
const before = await embedderState();
if (step === 'failed-start') {
  try {
    await startServer({ ...config, nonceCapacity: 0 });
  } catch {}
} else {
  const running = await startServer(config);
  const answer = await fetch(`${running.url}/healthz`);
  await answer.arrayBuffer();
  await running.close();
}
console.log(JSON.stringify({ step, before, after: await embedderState() }));
await own.shutdown();
