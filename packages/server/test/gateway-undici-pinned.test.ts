/**
 * The gateway basics (gateway.test.ts) on undici, whatever the default: since session 21 the
 * default `--upstream-client auto` runs the builtin client for the suites' plain-http upstreams, so
 * a plain `vitest run` would no longer put undici (still the client for https upstreams, tracing,
 * a Node whose parser fails its self-test, and `--upstream-client undici`) through them. This file
 * runs gateway.test.ts's cases once more with every spawned gateway on undici
 * (HMAC_KIT_TEST_UPSTREAM_CLIENT, read by test-support/processes.ts as each gateway starts).
 * gateway-upstream-conformance.test.ts holds both clients side by side on the answer side.
 */
process.env.HMAC_KIT_TEST_UPSTREAM_CLIENT = 'undici';
await import('./gateway.test.js');
