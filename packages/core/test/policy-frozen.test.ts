/**
 * resolvePolicy() resolves a deeply frozen policy once (src/pipeline/policy.ts, session 21; the
 * middleware freezes its own). Invariant: every answer equals what resolving a fresh, unfrozen copy
 * of the policy gives at that moment, whatever was resolved before: frozen and unfrozen policies,
 * frozen and unfrozen arrays (changed in place between calls), getters, inherited fields,
 * policies alternating, and refusals (an invalid frozen policy throws every time).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../src/pipeline/policy.js';
import type { VerifyPolicy } from '../src/types.js';

/** The answer (or the refusal's message) of the general path: a fresh unfrozen copy, resolved now. */
function reference(policy: VerifyPolicy, hasBody: boolean): unknown {
  const copy: Record<string, unknown> = {};
  for (const key of [
    'requiredComponents',
    'algorithms',
    'tags',
    'maxBodyBytes',
    'maxAgeSeconds',
    'clockSkewSeconds',
    'requireNonce',
  ])
    if ((policy as Record<string, unknown>)[key] !== undefined) copy[key] = (policy as Record<string, unknown>)[key];
  try {
    return { ...resolvePolicy(copy as VerifyPolicy, hasBody) };
  } catch (error) {
    return `throws ${(error as Error).message}`;
  }
}

function answer(policy: VerifyPolicy, hasBody: boolean): unknown {
  try {
    return { ...resolvePolicy(policy, hasBody) };
  } catch (error) {
    return `throws ${(error as Error).message}`;
  }
}

const arrayOf = <T>(values: fc.Arbitrary<T>) => fc.array(values, { maxLength: 4 });
const field = {
  requiredComponents: arrayOf(fc.constantFrom('@method', '@path', 'content-digest', 'x-a')),
  algorithms: arrayOf(fc.constantFrom<unknown>('sha256', 'sha384', 'sha512', 'md5')),
  tags: arrayOf(fc.constantFrom<unknown>('a', 'b', 1)),
  maxBodyBytes: fc.constantFrom<unknown>(0, 1024, -1, 'x'),
  maxAgeSeconds: fc.constantFrom<unknown>(0, 30, 300),
  clockSkewSeconds: fc.constantFrom<unknown>(0, 5),
  requireNonce: fc.boolean(),
};

const policySpec = fc.record(
  {
    fields: fc.record(field, { requiredKeys: [] }),
    frozen: fc.boolean(),
    arraysFrozen: fc.boolean(),
    shape: fc.constantFrom('plain', 'getter', 'inherited'),
  },
  { requiredKeys: ['fields', 'frozen', 'arraysFrozen', 'shape'] },
);

function build(spec: {
  fields: Record<string, unknown>;
  frozen: boolean;
  arraysFrozen: boolean;
  shape: 'plain' | 'getter' | 'inherited';
}): VerifyPolicy {
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec.fields)) {
    values[key] = Array.isArray(value) ? (spec.arraysFrozen ? Object.freeze([...value]) : [...value]) : value;
  }
  let policy: Record<string, unknown>;
  if (spec.shape === 'inherited') policy = Object.create(values) as Record<string, unknown>;
  else if (spec.shape === 'getter') {
    policy = {};
    let reads = 0;
    for (const [key, value] of Object.entries(values)) {
      // A getter that answers differently on alternate reads (requireNonce flips).
      Object.defineProperty(policy, key, {
        enumerable: true,
        get: () => (key === 'requireNonce' ? reads++ % 2 === 0 : value),
      });
    }
  } else policy = values;
  return (spec.frozen ? Object.freeze(policy) : policy) as VerifyPolicy;
}

describe('resolvePolicy of a deeply frozen policy', () => {
  it('answers as resolving a fresh copy would, over sequences of policies, in-place changes and both hasBody', () => {
    fc.assert(
      fc.property(
        fc.array(policySpec, { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 30 }),
        (specs, steps) => {
          const policies = specs.map(build);
          for (const [pick, hasBody, mutate] of steps) {
            const policy = policies[pick % policies.length]!;
            if (mutate) {
              // Change an array in place, when it may be changed (the general path reads it again).
              for (const key of ['requiredComponents', 'algorithms', 'tags'] as const) {
                const value = (policy as Record<string, unknown>)[key];
                if (Array.isArray(value) && !Object.isFrozen(value)) {
                  // Now and then a value the policy refuses: the general path validates it again.
                  const valid = pick % 3 !== 0;
                  value.push(key === 'tags' ? (valid ? 'c' : 1) : valid ? 'sha512' : 'md5');
                }
              }
            }
            if (Object.getOwnPropertyDescriptor(policy, 'requireNonce')?.get !== undefined) {
              // A getter answers anew on every read: a kept answer must not stand in for it.
              const first = answer(policy, hasBody);
              const second = answer(policy, hasBody);
              if (typeof first === 'string') expect(second).toBe(first);
              else
                expect((first as { requireNonce: boolean }).requireNonce).not.toBe(
                  (second as { requireNonce: boolean }).requireNonce,
                );
              continue;
            }
            expect(answer(policy, hasBody)).toEqual(reference(policy, hasBody));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads a getter anew on every call, frozen or not', () => {
    let reads = 0;
    const policy = Object.freeze(
      Object.defineProperty({}, 'maxAgeSeconds', { enumerable: true, get: () => (reads++ % 2 === 0 ? 10 : 20) }),
    ) as VerifyPolicy;
    const seen = [0, 1, 2, 3].map(() => resolvePolicy(policy, true).maxAgeSeconds);
    expect(seen).toEqual([10, 20, 10, 20]);
  });

  it('keeps answering a frozen policy alike when another is resolved in between, and shares one answer', () => {
    const a = Object.freeze({ maxAgeSeconds: 10, requireNonce: false }) as VerifyPolicy;
    const b = Object.freeze({ maxAgeSeconds: 20, algorithms: Object.freeze(['sha256'] as const) }) as VerifyPolicy;
    for (let round = 0; round < 3; round++) {
      expect(resolvePolicy(a, true).maxAgeSeconds).toBe(10);
      expect(resolvePolicy(a, false).requireNonce).toBe(false);
      expect(resolvePolicy(b, true).algorithms).toEqual(['sha256']);
      expect(resolvePolicy(b, false).requiredComponents).not.toContain('content-digest');
      expect(resolvePolicy(b, true).requiredComponents).toContain('content-digest');
    }
    expect(resolvePolicy(a, true)).toBe(resolvePolicy(a, true));
    expect(Object.isFrozen(resolvePolicy(a, true))).toBe(true);
  });

  it('validates an array again when it may still change (a frozen policy over an unfrozen array)', () => {
    for (const key of ['algorithms', 'tags', 'requiredComponents'] as const) {
      const values: unknown[] = key === 'algorithms' ? ['sha256'] : key === 'tags' ? ['a'] : ['@method'];
      const policy = Object.freeze({ [key]: values }) as unknown as VerifyPolicy;
      expect(answer(policy, true)).toEqual(reference(policy, true));
      values.push(key === 'algorithms' ? 'md5' : key === 'tags' ? 1 : 'x-b');
      expect(answer(policy, true)).toEqual(reference(policy, true));
      if (key !== 'requiredComponents') expect(answer(policy, true)).toMatch(/^throws /);
    }
  });

  it('refuses an invalid frozen policy every time', () => {
    const bad = Object.freeze({ algorithms: Object.freeze(['md5']) }) as unknown as VerifyPolicy;
    for (let round = 0; round < 3; round++) expect(() => resolvePolicy(bad, true)).toThrow(TypeError);
  });
});
