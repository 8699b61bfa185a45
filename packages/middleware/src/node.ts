// Node.js-only API of @hmac-kit/middleware (`@hmac-kit/middleware/node`): what needs the event
// loop's check phase and node:async_hooks, kept out of the main entry, which Workers, Deno and
// browsers load too. Named exports only, listed explicitly.

export { inCheckPhase } from './check-phase.js';
