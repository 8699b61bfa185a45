/**
 * prom-client, as the server takes its runtime values: from this one module, whose output the
 * build (`scripts/bundle-dependencies.mjs`, after `tsc -b`) replaces with a single-file bundle.
 * prom-client is 32 CommonJS modules, and its default metrics `require('@opentelemetry/api')`
 * (44 more, for exemplars) even with tracing off: Node loaded all of them in every `hmac-kit serve`
 * process (supervisor and workers), ~0.1 s of CPU each. The bundle holds its own copy of
 * `@opentelemetry/api`, which finds the tracing SDK's registrations where every copy of that
 * package looks for them (one `globalThis` symbol per major version). Types still come from
 * 'prom-client' itself; without the bundle (tests on source, a build that skipped the step) this
 * plain re-export does the same.
 */
export { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
