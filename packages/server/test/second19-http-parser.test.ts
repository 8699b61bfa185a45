/**
 * Second review of `--upstream-client builtin` (session 19, helper "second19"): the builtin client
 * reads answers with node's internal `_http_common` HTTPParser. Node does not promise its shape or
 * its behaviour; a Node whose parser differs (another argument order of kOnHeadersComplete, a
 * return value that no longer skips a HEAD answer's body, no flushed fields) must be refused when
 * the builtin client is chosen, not trusted with answers. Simulated here by wrapping this Node's
 * parser.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createBuiltinClient } from '../src/upstream/client.js';
import { checkedHttpParser, type NodeHttpParserClass, selfTestHttpParser } from '../src/upstream/http-parser.js';

const Real = createRequire(import.meta.url)('_http_common').HTTPParser as NodeHttpParserClass;

/** This Node's parser, with what its C++ side reads from the kOnHeadersComplete slot changed by `wrap`. */
function withHeadersComplete(wrap: (callback: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown) {
  const stored = Symbol('callback');
  class Changed extends (Real as unknown as new () => object) {}
  for (const key of Object.keys(Real))
    (Changed as unknown as Record<string, unknown>)[key] = (Real as unknown as Record<string, unknown>)[key];
  Object.defineProperty(Changed.prototype, Real.kOnHeadersComplete, {
    get(this: Record<symbol, (...args: unknown[]) => unknown>) {
      const callback = this[stored];
      return callback === undefined ? undefined : wrap(callback);
    },
    set(this: Record<symbol, unknown>, callback: unknown) {
      this[stored] = callback;
    },
  });
  return Changed as unknown as NodeHttpParserClass;
}

describe('second19: the builtin client refuses a node parser that behaves otherwise', () => {
  it("this Node's parser passes the self-test, and the builtin client starts", async () => {
    expect(selfTestHttpParser(Real)).toBe('');
    expect(() => checkedHttpParser(Real)).not.toThrow();
    await createBuiltinClient('http://127.0.0.1:9', { timeoutMs: 1000 }).close();
  });

  it.each([
    [
      'kOnHeadersComplete arguments in another order',
      withHeadersComplete(
        (callback) =>
          (...args) =>
            callback(...args.slice(1)),
      ),
    ],
    [
      'a return value that no longer declines a body (HEAD)',
      withHeadersComplete((callback) => (...args) => {
        callback(...args);
        return 0;
      }),
    ],
    [
      'no keep-alive flag',
      withHeadersComplete(
        (callback) =>
          (...args) =>
            callback(...args.slice(0, 8), true),
      ),
    ],
    ['no parser at all', undefined],
    ['something else', class {}],
  ])('refuses %s with a message naming undici', (_what, candidate) => {
    expect(() => checkedHttpParser(candidate)).toThrow(/use --upstream-client undici/);
  });
});
