import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { type SeenRequest, startUpstream } from '../../../test-support/upstream.js';
import { tracingRequested } from '../src/tracing.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp.js';

// OpenTelemetry in the real `hmac-kit serve` process: spans exported over OTLP/HTTP (protobuf, the
// default) to a receiver started here, and nothing of the SDK loaded when no endpoint is set.

const SERVER = 2;
const CLIENT = 3;
const moduleLogHook = pathToFileURL(join(import.meta.dirname, 'support/module-log-register.mjs')).href;

/** Node options that log every module the process resolves to `file`. */
function moduleLogEnv(file: string): Record<string, string> {
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${moduleLogHook}`.trim(),
    HMAC_KIT_TEST_MODULE_LOG: file,
  };
}

function traceparent(): { header: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('tracing switch', () => {
  it('is on only with an OTLP endpoint, and off with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(
      false,
    );
  });
});

describe('OpenTelemetry tracing of hmac-kit serve', () => {
  let receiver: OtlpReceiver;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let traced: ServeProcess;
  let plain: ServeProcess;
  let client: IssuedKey;
  let admin: IssuedKey;
  let tracedLog: string;
  let plainLog: string;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    [receiver, upstream] = await Promise.all([startOtlpReceiver(), startUpstream()]);
    client = await createKeyWithCli(db, 'orders-client');
    admin = await createKeyWithCli(db, 'root', ['--scope', 'admin']);
    tracedLog = join(dir, 'traced-modules.log');
    plainLog = join(dir, 'plain-modules.log');
    const args = ['--db', db, '--schemes', 'rfc9421', '--upstream', upstream.url];
    [traced, plain] = await Promise.all([
      startServe(args, {
        cwd: dir,
        env: {
          ...moduleLogEnv(tracedLog),
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          // Export every 50 ms rather than every 5 s: the test waits for the spans.
          OTEL_BSP_SCHEDULE_DELAY: '50',
        },
      }),
      startServe(args, { cwd: dir, env: moduleLogEnv(plainLog) }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([traced?.stop(), plain?.stop()]);
    await Promise.all([receiver?.close(), upstream?.close()]);
  });

  const spansOf = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);
  const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) =>
    spans.filter((span) => span.parentSpanId === parent.spanId);

  it('continues the caller trace: server span, verification with its key lookup and store calls, upstream call', async () => {
    const incoming = traceparent();
    const request = await signed(client, 'GET', `${traced.url}/orders/7?token=query-secret`);
    const answer = await send(request, { traceparent: incoming.header, 'x-forwarded-for': '10.80.0.1' });
    expect(answer.status).toBe(201);

    const spans = await until('the request, verification and upstream spans', () => {
      const found = spansOf(incoming.traceId);
      return found.some((span) => span.kind === SERVER) && found.some((span) => span.kind === CLIENT)
        ? found
        : undefined;
    });
    const server = spans.find((span) => span.kind === SERVER) as ReceivedSpan;
    // The caller's trace id is kept and its span is the parent.
    expect(server.parentSpanId).toBe(incoming.parentId);
    expect(server.name).toBe('GET');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/orders/7',
      'http.response.status_code': 201,
      'hmac_kit.route': 'gateway',
      'hmac_kit.key_id': client.keyId,
    });
    expect(server.resource['service.name']).toBe('hmac-kit');

    // Verification spans only under the request: the header stages (admit), then the body stage and
    // commit the gateway runs once it has the body (finish / complete / commitBeforeBody).
    const verifySpans = childrenOf(spans, server).filter((span) => span.kind !== CLIENT);
    expect(verifySpans.every((span) => span.name.startsWith('hmac_kit.verify.'))).toBe(true);
    const admit = verifySpans.find((span) => span.name === 'hmac_kit.verify.admit') as ReceivedSpan;
    const commit = verifySpans.filter((span) => span !== admit);
    expect(commit.map((span) => span.name)).toHaveLength(1);
    const headerStages = childrenOf(spans, admit).map((span) => span.name);
    expect(headerStages).toContain('hmac_kit.key_lookup');
    expect(headerStages.some((name) => name.startsWith('hmac_kit.failure_throttle.'))).toBe(true);
    // Side effects happen in commit only: the nonce and the rate limit nest under the commit span.
    const commitStage = childrenOf(spans, commit[0] as ReceivedSpan).map((span) => span.name);
    expect(commitStage).toContain('hmac_kit.nonce_store.checkAndStore');
    expect(commitStage).toContain('hmac_kit.rate_limiter.hit');
    expect(headerStages).not.toContain('hmac_kit.nonce_store.checkAndStore');

    // The upstream call: a client span under the request, and its own traceparent sent upstream.
    const call = spans.find((span) => span.kind === CLIENT) as ReceivedSpan;
    expect(call.parentSpanId).toBe(server.spanId);
    expect(call.attributes['url.full']).toBe(`${upstream.url}/orders/7`);
    const seen = upstream.seen.find((entry: SeenRequest) => entry.url === '/orders/7?token=query-secret');
    expect(seen?.headers.traceparent).toBe(`00-${incoming.traceId}-${call.spanId}-01`);

    // Neither the secret, nor the signature, nor the query reaches an attribute.
    const values = spans.flatMap((span) => Object.values(span.attributes).map(String));
    for (const forbidden of [client.secret, request.init.headers.signature as string, 'query-secret']) {
      expect(values.filter((value) => value.includes(forbidden))).toEqual([]);
    }
  });

  it('names admin requests by route template and records refusals with their problem code', async () => {
    const incoming = traceparent();
    const request = await signed(admin, 'GET', `${traced.url}/_hmac-kit/v1/admin/keys/${client.keyId}`);
    expect((await send(request, { traceparent: incoming.header, 'x-forwarded-for': '10.80.0.2' })).status).toBe(200);
    const unsigned = traceparent();
    const refused = await fetch(`${traced.url}/orders`, {
      headers: { traceparent: unsigned.header, 'x-forwarded-for': '10.80.0.3' },
    });
    expect(refused.status).toBe(401);

    const adminSpan = await until('the admin span', () =>
      spansOf(incoming.traceId).find((span) => span.kind === SERVER),
    );
    expect(adminSpan.name).toBe('GET /_hmac-kit/v1/admin/keys/{keyId}');
    expect(adminSpan.attributes['http.route']).toBe('/_hmac-kit/v1/admin/keys/{keyId}');
    // The head is verified before the body is read (admit), then the body stage and commit (complete).
    expect(childrenOf(spansOf(incoming.traceId), adminSpan).map((span) => span.name)).toEqual(
      expect.arrayContaining(['hmac_kit.verify.admit', 'hmac_kit.verify.complete']),
    );

    const refusedSpans = await until('the refused request spans', () => {
      const found = spansOf(unsigned.traceId);
      return found.length >= 2 ? found : undefined;
    });
    const refusedServer = refusedSpans.find((span) => span.kind === SERVER) as ReceivedSpan;
    expect(refusedServer.attributes).toMatchObject({
      'http.response.status_code': 401,
      'hmac_kit.problem_code': 'signature_missing',
    });
    const refusedVerify = childrenOf(refusedSpans, refusedServer)[0];
    expect(refusedVerify?.attributes['hmac_kit.problem_code']).toBe('signature_missing');
    // No upstream call for a refused request.
    expect(refusedSpans.some((span) => span.kind === CLIENT)).toBe(false);
  });

  it('starts a new trace when the request carries none, and exports OTLP protobuf', async () => {
    const before = new Set(receiver.spans.map((span) => span.traceId));
    const request = await signed(client, 'GET', `${traced.url}/orders/8`);
    expect((await send(request, { 'x-forwarded-for': '10.80.0.4' })).status).toBe(201);
    const root = await until('a new root span', () =>
      receiver.spans.find(
        (span) => span.kind === SERVER && !before.has(span.traceId) && span.attributes['url.path'] === '/orders/8',
      ),
    );
    expect(root.parentSpanId).toBe('');
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/x-protobuf']));
  });

  it('loads no OpenTelemetry module at all when no endpoint is set (and the traced one does)', async () => {
    const request = await signed(client, 'GET', `${plain.url}/orders/9`);
    const incoming = traceparent().header;
    const answer = await send(request, { traceparent: incoming, 'x-forwarded-for': '10.80.0.5' });
    expect(answer.status).toBe(201);
    // The client's traceparent is passed through untouched when tracing is off.
    expect(upstream.seen.find((entry) => entry.url === '/orders/9')?.headers.traceparent).toBe(incoming);
    expect(existsSync(plainLog) && existsSync(tracedLog)).toBe(true);
    const plainModules = readFileSync(plainLog, 'utf8');
    const tracedModules = readFileSync(tracedLog, 'utf8');
    // The hook saw the server's own modules in both processes...
    expect(plainModules).toMatch(/\/packages\/server\/dist\/tracing\.js/);
    // ...but only the traced process resolved the SDK.
    expect(tracedModules).toMatch(/@opentelemetry\/sdk-trace-node/);
    expect(tracedModules).toMatch(/\/packages\/server\/dist\/tracing-sdk\.js/);
    expect(plainModules).not.toMatch(/@opentelemetry|tracing-sdk/);
  });
});
