/**
 * review17: what a store or key resolver throws is the store's business, not the server's: an error
 * object with a hostile `name` (a getter that throws, a multi-line or huge name, a non-string), a
 * Proxy whose prototype cannot be read, a value whose `toString` throws. storeFailure() (core) and
 * the middleware's stderr line must still answer 503 store_unavailable, print one bounded line, and
 * never throw out of authenticate(). Before: a throwing `name` getter escaped storeFailure() and the
 * request got whatever the getter threw (500, or a rejected authenticate()); a name with newlines was
 * printed as it was (a forged line on stderr), a 1 MB name as 1 MB per refused request.
 */
import { StoreUnavailable, storeFailure } from '@hmac-kit/core';
import { createAuthenticator } from '@hmac-kit/middleware';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { resolveKey, signedOrderMessage } from '../../../test-support/adapter-suite.js';

function errorNamed(name: unknown): Error {
  const error = new Error('postgres://app:hunter2@10.0.0.7/keys');
  Object.defineProperty(error, 'name', { value: name });
  return error;
}

const throwingName = () => {
  const error = new Error('postgres://app:hunter2@10.0.0.7/keys');
  Object.defineProperty(error, 'name', {
    get() {
      throw {
        toString: () => {
          throw new Error('toString');
        },
      };
    },
  });
  return error;
};

const hostile: Array<[string, () => unknown]> = [
  ['an Error whose name getter throws (a value whose toString throws)', throwingName],
  ['an Error whose name is many lines', () => errorNamed('X\nhmac-kit: forged line\n{"level":"fatal"}')],
  ['an Error whose name is 1 MB', () => errorNamed('N'.repeat(1 << 20))],
  [
    'an Error whose name is an object with a throwing toString',
    () =>
      errorNamed({
        toString: () => {
          throw new Error('x');
        },
      }),
  ],
  ['an Error whose name is a Symbol', () => errorNamed(Symbol('s'))],
  [
    'a Proxy whose prototype cannot be read',
    () =>
      new Proxy(
        {},
        {
          getPrototypeOf() {
            throw new Error('trap');
          },
        },
      ),
  ],
  [
    'a revoked Proxy',
    () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    },
  ],
  [
    'an object whose toString throws',
    () => ({
      toString: () => {
        throw new Error('x');
      },
    }),
  ],
  ['undefined', () => undefined],
];

describe('review17: storeFailure() of hostile thrown values', () => {
  it.each(hostile)('%s: a StoreUnavailable with a short one-line message, never a throw', (_name, make) => {
    const thrown = make();
    const wrapped = storeFailure(thrown, 'key resolver');
    expect(wrapped).toBeInstanceOf(StoreUnavailable);
    expect(wrapped.message).toMatch(/^key resolver failed \([^\n]{1,80}\)$/);
    expect(wrapped.message).not.toContain('hunter2');
    expect(wrapped.cause).toBe(thrown);
  });
});

describe('review17: the middleware answers 503 for them, one bounded stderr line each', () => {
  let errors: MockInstance;
  beforeEach(() => {
    errors = vi.spyOn(console, 'error').mockImplementation(() => {});
  });
  afterEach(() => errors.mockRestore());

  for (const [name, make] of hostile) {
    for (const where of ['key resolver throws', 'key resolver rejects', 'nonce store rejects'] as const) {
      it(`${where} ${name}`, async () => {
        const authenticator = createAuthenticator(
          where === 'nonce store rejects'
            ? {
                keys: resolveKey,
                nonceStore: { checkAndStore: () => Promise.reject(make()) },
              }
            : {
                keys: () => {
                  if (where === 'key resolver throws') throw make();
                  return Promise.reject(make());
                },
              },
        );
        const { message, body } = await signedOrderMessage();
        const outcome = await authenticator.authenticate(message, body);
        expect(outcome.ok ? 200 : outcome.problem.status).toBe(503);
        const printed = errors.mock.calls.map((call) => call.map(String).join(' '));
        expect(printed).toHaveLength(1);
        expect(printed[0]).not.toContain('\n');
        expect((printed[0] as string).length).toBeLessThan(400);
        expect(printed[0]).not.toContain('hunter2');
      });
    }
  }
});
