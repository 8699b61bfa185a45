/**
 * The tracing contract the server codes against (the hooks, what a span reads, the config error),
 * apart from tracing.ts (which decides whether to load the SDK) and tracing-sdk.ts (the
 * OpenTelemetry side), so that neither imports the other back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteName } from './routes.js';

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
    handle: () => Promise<void> | undefined,
  ): Promise<void> | undefined;
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
  /**
   * Exports the spans still buffered, then stops this user's tracing (once; a second call does
   * nothing). When the last user of the process' tracing stops ({@link startTracing} hands one
   * out per start), the SDK stops too: the provider and its exporter shut down (no timer, no
   * connection left), the undici instrumentation is unregistered and the OpenTelemetry API's
   * globals (tracer provider, propagator, context manager) are given up, so that nothing the
   * process does later is traced, and a later start registers its own.
   */
  shutdown(): Promise<void>;
}

/** A tracing setting that cannot work (e.g. an unsupported OTLP protocol). */
export class TracingConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TracingConfigError';
  }
}
