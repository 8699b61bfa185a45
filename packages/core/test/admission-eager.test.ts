/**
 * `admitRequestEagerly` (pipeline/admission.ts): the admission without promises when every stage
 * answers synchronously. Its invariant: the same stages, side effects, answers and failure recording
 * as `admitRequest`, only settled without a promise hop; a failure always comes back rejected.
 */
import { admitRequest, admitRequestEagerly, isPromiseLike, signMessage } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const key = makeKey('hk_eager');
const encoder = new TextEncoder();

async function signedPost(body: string, nonce?: string) {
  const signed = await signMessage(
    { method: 'POST', url: 'https://api.example.com/orders', headers: {}, body: encoder.encode(body) },
    { keyId: key.keyId, secret: key.printable },
    { now: () => NOW, ...(nonce === undefined ? {} : { nonce }) },
  );
  return { method: 'POST', url: signed.url, headers: signed.headers };
}

/** A synchronous config (node:crypto, memory stores, a map resolver) recording its hooks' calls. */
function syncConfig() {
  const events: string[] = [];
  const config = {
    keys: resolverOf(key),
    crypto: nodeCryptoProvider,
    now: () => NOW,
    nonceStore: memoryNonceStore({ now: () => (NOW - 600) * 1000 }),
    hooks: {
      gate: () => {
        events.push('gate');
      },
      commit: () => {
        events.push('commit');
        return { 'x-committed': '1' };
      },
      failed: (error: unknown, _claim: unknown, _source: unknown, stage: string) => {
        events.push(`failed:${(error as { code?: string }).code}@${stage}`);
      },
    },
  };
  return { config, events };
}

describe('admitRequestEagerly', () => {
  it('admits and completes without a promise when every stage is synchronous, as admitRequest does with one', async () => {
    const body = encoder.encode('{"amount":5}');
    const eager = syncConfig();
    const admitted = admitRequestEagerly(eager.config, await signedPost('{"amount":5}', 'n-1'), true, undefined);
    expect(isPromiseLike(admitted)).toBe(false);
    if (isPromiseLike(admitted)) return;
    const headers = admitted.completeEagerly(body);
    expect(isPromiseLike(headers)).toBe(false);

    const reference = syncConfig();
    const admission = await admitRequest(
      reference.config,
      await signedPost('{"amount":5}', 'n-1'),
      { hasBody: true },
      undefined,
    );
    expect(await admission.complete(body)).toEqual(headers);
    expect(eager.events).toEqual(reference.events);
    expect(eager.events).toEqual(['gate', 'commit']);
    expect(admitted.result).toEqual(admission.result);
    expect([admitted.signatureVerified, admitted.checksBody]).toEqual([
      admission.signatureVerified,
      admission.checksBody,
    ]);
  });

  it('commitBeforeBody then finish: the same headers and the same single commit both ways', async () => {
    const body = encoder.encode('{"amount":5}');
    const eager = syncConfig();
    const admitted = admitRequestEagerly(eager.config, await signedPost('{"amount":5}', 'n-2'), true, undefined);
    if (isPromiseLike(admitted)) throw new Error('expected a synchronous admission');
    const committed = admitted.commitBeforeBodyEagerly();
    admitted.update(body);
    const finished = admitted.finishEagerly();
    const reference = syncConfig();
    const admission = await admitRequest(
      reference.config,
      await signedPost('{"amount":5}', 'n-2'),
      { hasBody: true },
      undefined,
    );
    expect(await admission.commitBeforeBody()).toEqual(committed);
    admission.update(body);
    expect(await admission.finish()).toEqual(await finished);
    expect(eager.events).toEqual(reference.events);
  });

  it('a failing body is recorded once and comes back rejected, never thrown', async () => {
    const eager = syncConfig();
    const admitted = admitRequestEagerly(eager.config, await signedPost('{"amount":5}', 'n-3'), true, undefined);
    if (isPromiseLike(admitted)) throw new Error('expected a synchronous admission');
    const answer = admitted.completeEagerly(encoder.encode('{"amount":500}'));
    expect(isPromiseLike(answer)).toBe(true);
    await expect(answer).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    const reference = syncConfig();
    const admission = await admitRequest(
      reference.config,
      await signedPost('{"amount":5}', 'n-3'),
      { hasBody: true },
      undefined,
    );
    await expect(admission.complete(encoder.encode('{"amount":500}'))).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
    expect(eager.events).toEqual(reference.events);
    expect(eager.events).toEqual(['gate', 'failed:ERR_DIGEST_MISMATCH@body']);
  });

  it('a failing header stage rejects after recording, as admitRequest does', async () => {
    const eager = syncConfig();
    const message = await signedPost('{"amount":5}', 'n-4');
    const tampered = { ...message, url: 'https://api.example.com/other' };
    const admitted = admitRequestEagerly(eager.config, tampered, true, undefined);
    expect(isPromiseLike(admitted)).toBe(true);
    await expect(admitted).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    const reference = syncConfig();
    await expect(admitRequest(reference.config, tampered, { hasBody: true }, undefined)).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_INVALID',
    });
    expect(eager.events).toEqual(reference.events);
  });

  it('a caller bug (finish twice) throws from the eager method and rejects from its promise twin', async () => {
    const admitted = admitRequestEagerly(syncConfig().config, await signedPost('', 'n-5'), false, undefined);
    if (isPromiseLike(admitted)) throw new Error('expected a synchronous admission');
    admitted.finishEagerly();
    expect(() => admitted.finishEagerly()).toThrow(TypeError);
    await expect(admitted.finish()).rejects.toBeInstanceOf(TypeError);
  });
});
