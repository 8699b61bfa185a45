import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteName } from './routes.js';

/**
 * OpenTelemetry tracing of `hmac-kit serve`, switched on by the standard environment:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). This module is all the
 * server loads when tracing is off: it never imports an `@opentelemetry/*` package, and the server
 * then skips every tracing hook (no span, no context, no wrapper on the request path).
 */

/** What a request's server span reads from the route that answered it. */
export interface TracedRequest {
  route: RouteName;
  /** The matched path template (`/v1/admin/keys/{keyId}`), when a route of hmac-kit's own answered. */
  routePath?: string;
  keyId?: string;
  code?: string;
}

/** The tracing hooks the server calls when tracing is on. */
export interface Tracing {
  /**
   * Runs one request's handling inside a server span that continues the incoming W3C
   * `traceparent` (when there is one), and ends the span when the response is closed.
   */
  traceRequest(
    request: IncomingMessage,
    response: ServerResponse,
    state: TracedRequest,
    handle: () => Promise<void>,
  ): Promise<void>;
  /**
   * Wraps an object so that each call of `methods` (default: every method) is a child span of the
   * active span, named `<name>.<method>`. With `active`, the span is made active during the call,
   * so that what the call does (key lookups, store calls) nests under it.
   */
  instrument<T extends object>(target: T, name: string, options?: { methods?: readonly string[]; active?: boolean }): T;
  /** Wraps a function (the key resolver) the same way. */
  instrumentFunction<F extends (...args: never[]) => unknown>(fn: F, name: string): F;
  /** Header names the propagator writes (`traceparent`, `tracestate`): the gateway sends its own, not the client's. */
  readonly propagationHeaders: readonly string[];
  /** Exports the spans still buffered. */
  flush(): Promise<void>;
}

/** A tracing setting that cannot work (e.g. an unsupported OTLP protocol). */
export class TracingConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TracingConfigError';
  }
}

/**
 * Whether the environment asks for traces: an OTLP endpoint is set, the SDK is not disabled
 * (`OTEL_SDK_DISABLED=true`) and the traces exporter is not `none`.
 *
 * @example
 * ```ts
 * tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }); // true
 * ```
 */
export function tracingRequested(env: Record<string, string | undefined>): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return false;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').map((name) => name.trim().toLowerCase());
  return !exporters.includes('none');
}

let started: Promise<Tracing> | undefined;

/**
 * Starts tracing when the environment asks for it (see {@link tracingRequested}), once per
 * process; resolves undefined otherwise, without loading the OpenTelemetry SDK.
 *
 * @example
 * ```ts
 * const tracing = await startTracing(process.env, { version: '0.1.0' });
 * ```
 */
export async function startTracing(
  env: Record<string, string | undefined>,
  service: { version: string },
): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  started ??= import('./tracing-sdk.js').then(({ createTracing }) => createTracing(env, service));
  try {
    return await started;
  } catch (error) {
    started = undefined;
    throw error;
  }
}
