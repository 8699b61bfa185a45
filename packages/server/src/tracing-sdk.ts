// The OpenTelemetry SDK side of tracing.ts: imported only when tracing is on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPromiseLike } from '@hmac-kit/core';
import {
  type Attributes,
  context,
  type HrTime,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { type TracedRequest, type Tracing, TracingConfigError } from './tracing-contract.js';

const INSTRUMENTATION_SCOPE = '@hmac-kit/server';

/** `performance.timeOrigin + performance.now()` as OpenTelemetry's [seconds, nanoseconds]. */
function now(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/**
 * The operation a method performs, for its span name: a store's synchronous capability
 * (`checkAndStoreNow`, `hitNow`, `recordFailureNow`) is the same operation as its promise method,
 * so both get one span name (`hmac_kit.nonce_store.checkAndStore`): the documented names and the
 * dashboards built on them do not depend on which way the pipeline took.
 */
function operationOf(property: string, names: Iterable<string>): string {
  if (!property.endsWith('Now')) return property;
  const base = property.slice(0, -'Now'.length);
  for (const name of names) if (name === base) return base;
  return property;
}

/** The problem code of a middleware outcome (`{ ok: false, problem: { body: { code } } }`), if any. */
function problemCodeOf(result: unknown): string | undefined {
  const outcome = result as { ok?: unknown; problem?: { body?: { code?: unknown } } } | undefined;
  const code = outcome?.ok === false ? outcome.problem?.body?.code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function exporterFor(env: Record<string, string | undefined>) {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf')
    .trim()
    .toLowerCase();
  // Both exporters read the endpoint, headers, timeout and compression from the OTEL_* environment.
  if (protocol === 'http/protobuf') return new OtlpProtobufExporter();
  if (protocol === 'http/json') return new OtlpJsonExporter();
  throw new TracingConfigError(
    `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: use http/protobuf (the default) or http/json`,
  );
}

/** Every method name of an object, its prototypes' included (not Object's own). */
function methodNames(target: object): string[] {
  const names = new Set<string>();
  for (
    let object: object | null = target;
    object && object !== Object.prototype;
    object = Object.getPrototypeOf(object)
  ) {
    for (const property of Object.getOwnPropertyNames(object)) {
      if (property !== 'constructor' && typeof (target as Record<string, unknown>)[property] === 'function') {
        names.add(property);
      }
    }
  }
  return [...names];
}

/** Path of a request target, without its query (it can carry presigned SigV4 signatures). */
function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/**
 * Builds the tracer provider (OTLP over HTTP, batched), registers it with the OpenTelemetry API
 * (AsyncLocalStorage context, W3C trace context propagation) and the undici instrumentation
 * (the gateway's upstream calls: a client span, and `traceparent` sent upstream).
 */
export function createTracing(env: Record<string, string | undefined>, service: { version: string }): Tracing {
  const exporter = exporterFor(env);
  const resource = resourceFromAttributes({
    'service.name': 'hmac-kit',
    'service.version': service.version,
  }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  const unregisterInstrumentations = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new UndiciInstrumentation({
        // Query strings stay out of traces, as out of logs: they can carry presigned signatures.
        requestHook(span, request) {
          span.setAttribute('url.full', `${request.origin}${pathOf(request.path)}`);
          span.setAttribute('url.query', '');
        },
      }),
    ],
  });
  const tracer = provider.getTracer(INSTRUMENTATION_SCOPE, service.version);

  /** Ends a span whose call threw (the error's name only: messages can carry request data). */
  function failed(span: Span, error: unknown): void {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error | undefined)?.name ?? 'error' });
    span.end();
  }

  /** Ends `span` once `result` settles (now when it is not a promise), with the problem code of a refusal. */
  function endAfter(span: Span, result: unknown): unknown {
    const succeeded = (value: unknown) => {
      const code = problemCodeOf(value);
      if (code) span.setAttribute('hmac_kit.problem_code', code);
      span.end();
      return value;
    };
    if (!isPromiseLike(result)) return succeeded(result);
    return Promise.resolve(result).then(succeeded, (error: unknown) => {
      failed(span, error);
      throw error;
    });
  }

  /** Calls `fn` and records the call as a child span of the active one (after the fact when `active` is off). */
  function traced(name: string, active: boolean, call: () => unknown, attributes?: Attributes): unknown {
    const parent = context.active();
    if (active) {
      const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent);
      let result: unknown;
      try {
        result = context.with(trace.setSpan(parent, span), call);
      } catch (error) {
        failed(span, error);
        throw error;
      }
      return endAfter(span, result);
    }
    // The span is created once the call is over: its start time is taken before. Nothing nests
    // under these calls (stores, key lookups), so they need not be active.
    const startTime = now();
    const start = () => tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes, startTime }, parent);
    let result: unknown;
    try {
      result = call();
    } catch (error) {
      failed(start(), error);
      throw error;
    }
    if (!isPromiseLike(result)) return endAfter(start(), result);
    return Promise.resolve(result).then(
      (value) => endAfter(start(), value),
      (error: unknown) => {
        failed(start(), error);
        throw error;
      },
    );
  }

  return {
    propagationHeaders: propagation.fields(),

    traceRequest(request: IncomingMessage, response: ServerResponse, state: TracedRequest, handle) {
      const parent = propagation.extract(ROOT_CONTEXT, request.headers);
      const method = request.method ?? 'GET';
      const span = tracer.startSpan(
        method,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': method,
            'url.path': pathOf(request.url ?? '/'),
            'network.protocol.version': request.httpVersion,
            'client.address': request.socket.remoteAddress,
          },
        },
        parent,
      );
      response.once('close', () => {
        const status = response.statusCode;
        if (state.routePath) {
          span.setAttribute('http.route', state.routePath);
          span.updateName(`${method} ${state.routePath}`);
        }
        span.setAttribute('hmac_kit.route', state.route);
        span.setAttribute('http.response.status_code', status);
        if (state.keyId) span.setAttribute('hmac_kit.key_id', state.keyId);
        if (state.code) span.setAttribute('hmac_kit.problem_code', state.code);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        if (!response.writableFinished) span.setAttribute('hmac_kit.aborted', true);
        span.end();
      });
      return context.with(trace.setSpan(parent, span), handle);
    },

    instrument(target, name, options = {}) {
      // A new object over the target rather than a Proxy: the middleware freezes what it returns,
      // and a Proxy must answer a frozen property with its own value.
      const methods = options.methods ? new Set(options.methods) : undefined;
      const active = options.active ?? false;
      const wrapper = Object.create(target) as typeof target;
      const names = methodNames(target);
      for (const property of names) {
        const method = (target as Record<string, unknown>)[property] as (...args: unknown[]) => unknown;
        const spanName = `${name}.${operationOf(property, names)}`;
        const wrapped =
          methods && !methods.has(property)
            ? method.bind(target)
            : (...args: unknown[]) => traced(spanName, active, () => Reflect.apply(method, target, args));
        Object.defineProperty(wrapper, property, { value: wrapped, enumerable: true });
      }
      return Object.freeze(wrapper);
    },

    instrumentFunction(fn, name) {
      return ((...args: never[]) => traced(name, false, () => fn(...args))) as typeof fn;
    },

    flush: () => provider.forceFlush(),

    async shutdown() {
      // Given up first, synchronously: a start that follows at once registers its own.
      unregisterInstrumentations();
      trace.disable();
      propagation.disable();
      context.disable();
      // Exports what is buffered, then shuts the exporter down (its timer and connections).
      await provider.shutdown();
    },
  };
}
