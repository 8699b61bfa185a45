import { ScopeInsufficient } from '@hmac-kit/core';
import { identityOf, missingScopes, requireScopes } from '@hmac-kit/middleware';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyRing } from '../../../test-support/adapter-suite.js';
import { IdentityCache } from '../src/identity.js';

const identity = identityOf({
  scheme: 'rfc9421',
  keyId: keyRing.orders.keyId,
  key: keyRing.orders,
  coveredComponents: ['@method', '@path'],
});

describe('identityOf', () => {
  it('keeps who and what, never the secret, and freezes the result', () => {
    expect(identity).toEqual({
      principal: 'billing-service',
      keyId: keyRing.orders.keyId,
      scopes: ['orders:write', 'orders:read'],
      scheme: 'rfc9421',
      coveredComponents: ['@method', '@path'],
    });
    expect(Object.isFrozen(identity)).toBe(true);
    expect(Object.isFrozen(identity.scopes)).toBe(true);
  });

  it('answers the same for frozen lists (shared, not copied), mutable ones (copied) and no scopes', () => {
    const cases = [
      { scopes: ['a', 'b'], covered: ['@method'] },
      { scopes: Object.freeze(['a', 'b']), covered: Object.freeze(['@method']) },
      { scopes: undefined, covered: [] },
      { scopes: Object.freeze([]), covered: Object.freeze([]) },
    ];
    for (const { scopes, covered } of cases) {
      const key = { ...keyRing.orders, scopes };
      const mutableScopes = scopes ? [...scopes] : undefined;
      const general = identityOf({
        scheme: 'rfc9421',
        keyId: key.keyId,
        key: { ...key, scopes: mutableScopes },
        coveredComponents: [...covered],
      });
      const shared = identityOf({ scheme: 'rfc9421', keyId: key.keyId, key, coveredComponents: covered });
      expect(shared).toEqual(general);
      expect(shared.scopes).toEqual(scopes ?? []);
      for (const made of [general, shared]) {
        expect(Object.isFrozen(made.scopes)).toBe(true);
        expect(Object.isFrozen(made.coveredComponents)).toBe(true);
      }
      // A mutable list is copied: changing it later does not reach the identity.
      mutableScopes?.push('late');
      expect(general.scopes).toEqual(scopes ?? []);
    }
  });

  it('falls back to the key id when the key names no principal', () => {
    const anonymous = identityOf({
      scheme: 'rfc9421',
      keyId: 'k1',
      key: { ...keyRing.reader, keyId: 'k1' },
      coveredComponents: [],
    });
    expect(anonymous.principal).toBe('k1');
  });
});

/** Whether two lists hold the same strings in the same order. */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

describe('IdentityCache', () => {
  it('answers what identityOf answers, over random sequences, without copying a list it already holds', () => {
    const components = fc.constantFrom('@method', '@path', '@authority', 'content-digest', '@query');
    const lists = fc.array(components, { maxLength: 4 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(lists, fc.boolean(), fc.option(fc.array(fc.string(), { maxLength: 2 }))), { maxLength: 30 }),
        (requests) => {
          const cache = new IdentityCache();
          let previous: readonly string[] | undefined;
          for (const [covered, frozen, scopes] of requests) {
            // A fresh list per request, as the core's parse makes one.
            const list = frozen ? Object.freeze([...covered]) : [...covered];
            const key = { ...keyRing.orders, scopes: scopes ?? undefined };
            const verified = { scheme: 'rfc9421', keyId: key.keyId, key, coveredComponents: list };
            const kept = cache.of(verified);
            expect(kept).toEqual(identityOf(verified));
            expect(Object.isFrozen(kept)).toBe(true);
            expect(Object.isFrozen(kept.coveredComponents)).toBe(true);
            expect(Object.isFrozen(kept.scopes)).toBe(true);
            // The kept list for the same strings (compared first, frozen or not), else a frozen list as it is.
            // (It starts out holding an empty frozen list.)
            if (previous === undefined ? covered.length === 0 : sameList(previous, covered)) {
              if (previous !== undefined) expect(kept.coveredComponents).toBe(previous);
            } else if (frozen) expect(kept.coveredComponents).toBe(list);
            // The request's own list changing later does not reach the identity.
            if (!frozen) (list as string[]).push('late');
            expect(kept.coveredComponents).toEqual(covered);
            // What the cache keeps: its own frozen copy, or a frozen list as it is.
            previous = kept.coveredComponents;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the key’s scopes as they are now when a resolver hands out one array and changes it in place', () => {
    const scope = fc.constantFrom('orders:read', 'orders:write', 'admin', '');
    // Each step: the scopes the resolver's one array holds now, set in place (or the array frozen,
    // or a fresh array, or none), then one request.
    const step = fc.record({
      scopes: fc.array(scope, { maxLength: 3 }),
      how: fc.constantFrom('in-place', 'fresh', 'frozen', 'none'),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        const cache = new IdentityCache();
        const shared: string[] = [];
        let previous: readonly string[] | undefined;
        for (const { scopes, how } of steps) {
          let keyScopes: readonly string[] | undefined;
          if (how === 'in-place') {
            shared.splice(0, shared.length, ...scopes);
            keyScopes = shared;
          } else if (how === 'fresh') keyScopes = [...scopes];
          else if (how === 'frozen') keyScopes = Object.freeze([...scopes]);
          const key = { ...keyRing.orders, scopes: keyScopes };
          const verified = { scheme: 'rfc9421', keyId: key.keyId, key, coveredComponents: ['@method'] };
          const kept = cache.of(verified);
          expect(kept).toEqual(identityOf(verified));
          expect(kept.scopes).toEqual(how === 'none' ? [] : scopes);
          expect(Object.isFrozen(kept.scopes)).toBe(true);
          // The kept list for the same strings, else a frozen list as it is.
          if (how !== 'none' && (previous === undefined ? scopes.length === 0 : sameList(previous, scopes))) {
            if (previous !== undefined) expect(kept.scopes).toBe(previous);
          } else if (how === 'frozen') expect(kept.scopes).toBe(keyScopes);
          if (how !== 'none') previous = kept.scopes;
          // Never the resolver's own mutable array: changing it later does not reach this identity.
          if (how === 'in-place') {
            expect(kept.scopes).not.toBe(shared);
            shared.push('late');
            expect(kept.scopes).toEqual(scopes);
            shared.pop();
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('IdentityCache: the kept identity object (session 23, gwb23)', () => {
  it('reuses the last identity exactly when identityOf would give the same five fields, else a new one', () => {
    const keyIds = fc.constantFrom('k-one', 'k-two', 'k-one\u0000');
    const principals = fc.option(fc.constantFrom('alice', 'bob', 'k-one', ''), { nil: undefined });
    const schemes = fc.constantFrom('rfc9421', 'sigv4', 'x-api');
    const lists = fc.array(fc.constantFrom('@method', '@path', 'content-digest', ''), { maxLength: 3 });
    const request = fc.record({
      keyId: keyIds,
      principal: principals,
      scheme: schemes,
      covered: lists,
      scopes: fc.option(fc.array(fc.constantFrom('read', 'write', 'admin'), { maxLength: 2 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(request, { maxLength: 30 }), (requests) => {
        const cache = new IdentityCache();
        let previous: { identity: ReturnType<typeof identityOf>; general: ReturnType<typeof identityOf> } | undefined;
        for (const { keyId, principal, scheme, covered, scopes } of requests) {
          const key = { keyId, secret: new Uint8Array(32), algorithm: 'sha256' as const, principal, scopes };
          const verified = { scheme, keyId, key, coveredComponents: [...covered] };
          const kept = cache.of(verified);
          const general = identityOf(verified);
          expect(kept).toEqual(general);
          expect(Object.isFrozen(kept)).toBe(true);
          // The same object exactly when every field the general path writes is the same as the last one's.
          const same =
            previous !== undefined &&
            previous.general.principal === general.principal &&
            previous.general.keyId === general.keyId &&
            previous.general.scheme === general.scheme &&
            sameList(previous.general.scopes, general.scopes) &&
            sameList(previous.general.coveredComponents, general.coveredComponents);
          // Never the last object unless every field is the same (safety); and an exact repeat of the
          // last request, the case the path is for, always gets it. (Not "exactly when": an empty
          // scopes list after a key without scopes is a new frozen empty list, equal but another
          // object, so the identity is a new one too.)
          if (previous !== undefined && kept === previous.identity) expect(same).toBe(true);
          const again = cache.of({ ...verified, coveredComponents: [...covered] });
          expect(again).toBe(kept);
          previous = { identity: kept, general };
        }
      }),
      { numRuns: 500 },
    );
  });

  it('attack: interleaved keys never get each other’s identity, and a scope change in place shows at once', () => {
    const cache = new IdentityCache();
    const scopes = ['read'];
    const admin = { keyId: 'admin', secret: new Uint8Array(32), algorithm: 'sha256' as const, scopes: ['admin'] };
    const reader = { keyId: 'reader', secret: new Uint8Array(32), algorithm: 'sha256' as const, scopes };
    const of = (key: typeof admin) =>
      cache.of({ scheme: 'rfc9421', keyId: key.keyId, key, coveredComponents: ['@method'] });
    const first = of(reader);
    expect(of(reader)).toBe(first);
    expect(of(admin)).toMatchObject({ keyId: 'admin', scopes: ['admin'] });
    expect(of(reader)).toMatchObject({ keyId: 'reader', scopes: ['read'] });
    scopes.push('admin');
    const widened = of(reader);
    expect(widened.scopes).toEqual(['read', 'admin']);
    scopes.splice(1, 1);
    expect(of(reader).scopes).toEqual(['read']);
    expect(of(reader)).not.toBe(widened);
    // Same key id, another principal (a key replaced by the resolver): a new identity.
    const renamed = cache.of({
      scheme: 'rfc9421',
      keyId: 'reader',
      key: { ...reader, principal: 'someone-else' },
      coveredComponents: ['@method'],
    });
    expect(renamed.principal).toBe('someone-else');
  });
});

describe('requireScopes', () => {
  it('passes when every scope is held', () => {
    expect(() => requireScopes(identity, 'orders:write', 'orders:read')).not.toThrow();
  });

  it('throws ScopeInsufficient naming the required scopes', () => {
    try {
      requireScopes(identity, 'orders:write', 'admin');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ScopeInsufficient);
      expect((error as ScopeInsufficient).requiredScopes).toEqual(['orders:write', 'admin']);
      expect((error as ScopeInsufficient).code).toBe('ERR_SCOPE_INSUFFICIENT');
    }
  });

  it('matches exactly: no wildcard or prefix grants', () => {
    expect(missingScopes(identity, ['orders', 'orders:*', 'orders:write'])).toEqual(['orders', 'orders:*']);
  });

  it('throws TypeError when no scope or an empty one is named', () => {
    expect(() => requireScopes(identity)).toThrow(TypeError);
    expect(() => requireScopes(identity, '')).toThrow(TypeError);
  });
});
