/**
 * Adversarial: one answer for every key-related failure (issue #11, 7a). Key ids are public (they
 * travel in every request and log line), so nothing a client sees may tell a known key id from an
 * unknown one: not the status, not the problem body, not the headers. On the previous code
 * django-hmac and SigV4 answered algorithm_unsupported for a known key of another algorithm and
 * signature_invalid for an unknown one; X-API did the same for a key whose algorithm the policy
 * refuses.
 */
import { type HashAlgorithm, toProblem, type VerificationKey, verifyMessage } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { makeKey } from '../support/fixtures.js';
import { crypto, key, NOW, SCHEMES, signedPost } from './support.js';

function answerOf(error: unknown) {
  const problem = toProblem(error);
  const { instance: _instance, ...body } = problem.body as unknown as Record<string, unknown>;
  return { status: problem.status, headers: problem.headers, body };
}

describe('adversarial: one answer for every key-related failure', () => {
  for (const testCase of SCHEMES) {
    it(`${testCase.name}: unknown key id = wrong secret = key of another algorithm = key the policy refuses`, async () => {
      const scheme = testCase.scheme();
      const signed = await signedPost(scheme);
      const other = (algorithm: HashAlgorithm): VerificationKey => ({ ...key, algorithm });
      const failures: Record<
        string,
        { keys: (id: string) => VerificationKey | undefined; algorithms?: HashAlgorithm[] }
      > = {
        'unknown key id': { keys: () => undefined },
        'wrong secret': { keys: () => ({ ...key, secret: makeKey('hk_other', 'sha256', 9).secret }) },
        'known key of another algorithm': { keys: () => other('sha512') },
        'known key of an algorithm the policy refuses': {
          keys: () => other('sha384'),
          algorithms: ['sha256', 'sha512'],
        },
      };
      const answers: Record<string, unknown> = {};
      for (const [what, { keys, algorithms }] of Object.entries(failures)) {
        const error = await verifyMessage(signed.message, signed.body, {
          keys,
          schemes: [scheme],
          crypto,
          now: () => NOW,
          ...(algorithms ? { policy: { algorithms } } : {}),
        }).then(
          () => new Error(`${what}: accepted`),
          (caught: unknown) => caught,
        );
        answers[what] = answerOf(error);
      }
      const reference = answers['unknown key id'];
      expect(reference).toMatchObject({ status: 401, body: { code: 'signature_invalid' } });
      for (const [what, answer] of Object.entries(answers)) expect(answer, what).toEqual(reference);
      // And the genuine request with its real key is accepted: the failures above are about the key alone.
      await expect(
        verifyMessage(signed.message, signed.body, { keys: () => key, schemes: [scheme], crypto, now: () => NOW }),
      ).resolves.toMatchObject({ keyId: key.keyId });
    });
  }

  it('an algorithm the policy never accepts is refused for everyone alike, before any key is looked up', async () => {
    const scheme = SCHEMES[0]!.scheme();
    const signed = await signedPost(scheme, makeKey(key.keyId, 'sha512', 1));
    const answers = await Promise.all(
      [() => undefined, () => makeKey(key.keyId, 'sha512', 1)].map((keys) =>
        verifyMessage(signed.message, signed.body, {
          keys,
          schemes: [scheme],
          crypto,
          now: () => NOW,
          policy: { algorithms: ['sha256'] },
        }).then(() => 'accepted', answerOf),
      ),
    );
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ body: { code: 'algorithm_unsupported' } });
  });
});
