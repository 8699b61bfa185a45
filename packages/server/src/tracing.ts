import type { Tracing } from './tracing-contract.js';

/**
 * OpenTelemetry tracing of `hmac-kit serve`, switched on by the standard environment:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). This module is all the
 * server loads when tracing is off: it never imports an `@opentelemetry/*` package, and the server
 * then skips every tracing hook (no span, no context, no wrapper on the request path).
 */

export type { TracedRequest, Tracing } from './tracing-contract.js';
export { TracingConfigError } from './tracing-contract.js';

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
