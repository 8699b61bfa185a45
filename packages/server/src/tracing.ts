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
/** The users of `started` that have not shut theirs down (each start of a server in the process). */
let users = 0;

/**
 * Starts tracing when the environment asks for it (see {@link tracingRequested}), once per
 * process (servers started in one process share it); resolves undefined otherwise, without
 * loading the OpenTelemetry SDK. Each caller gets its own `shutdown()`: the SDK stops when the
 * last of them has shut down, and a later call starts it again.
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
  const starting = started;
  let shared: Tracing;
  try {
    shared = await starting;
  } catch (error) {
    if (started === starting) started = undefined;
    throw error;
  }
  users++;
  let stopped = false;
  return {
    ...shared,
    shutdown: async () => {
      if (stopped) return;
      stopped = true;
      users--;
      if (users > 0) return shared.flush();
      // The last user: forgotten now (synchronously), so that a start from here on builds a new one.
      if (started === starting) started = undefined;
      await shared.shutdown();
    },
  };
}
