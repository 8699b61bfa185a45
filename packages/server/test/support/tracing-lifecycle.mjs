// A process that starts `hmac-kit serve` in process with OpenTelemetry on (OTEL_EXPORTER_OTLP_ENDPOINT
// set by the test) and prints one JSON line per step (fix24-tracing-shutdown.test.ts). After each,
// it reads the process-level state tracing leaves: whether a span started through the OpenTelemetry
// API now records (a tracer provider still registered), and the process' active resources after it
// ended (the batch processor's export timer). HMAC_KIT_TEST_STEP:
// - `failed-start`: a start refused in openServices (the memory nonce store refuses capacity 0);
// - `close-and-restart`: a server answers one request (its span, GET /healthz), closes; a second
//   one started after it answers another, closes.
import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { loadConfig, startServer } from '../../dist/index.js';

const config = loadConfig({
  flags: {
    port: 0,
    database: ':memory:',
    masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
    logLevel: 'silent',
  },
  env: {},
});

function processState() {
  const span = trace.getTracer('fix24-probe').startSpan('after');
  const recording = span.isRecording();
  span.end();
  return { recording, resources: process.getActiveResourcesInfo() };
}

async function tracedRequest(url) {
  const answer = await fetch(`${url}/healthz`);
  await answer.arrayBuffer();
  return answer.status;
}

const step = process.env.HMAC_KIT_TEST_STEP;
if (step === 'failed-start') {
  let error;
  try {
    await startServer({ ...config, nonceCapacity: 0 });
  } catch (thrown) {
    error = thrown.message;
  }
  console.log(JSON.stringify({ step, error, ...processState() }));
} else if (step === 'close-and-restart') {
  for (const server of [1, 2]) {
    const running = await startServer(config);
    const status = await tracedRequest(running.url);
    await running.close();
    console.log(JSON.stringify({ step, server, status, ...processState() }));
  }
}
