/**
 * The verification pipeline itself (pipeline/engine.ts): the two-phase scheme contract and its
 * synchronous fast path for a third-party scheme, one parse per request, the stage order, and
 * side effects only in the commit stage.
 */
import {
  type Credentials,
  checkSignature,
  MAC_MATCHED,
  MAC_MISMATCHED,
  macMatches,
  type NonceStore,
  type Scheme,
  signMessage,
  toProblem,
  verifyMessage,
} from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { runStages } from '../src/pipeline/engine.js';
import { getHeader } from '../src/protocol/headers.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const key = makeKey('hk_pipeline');
const keys = resolverOf(key);
const encoder = new TextEncoder();

interface ToyCredentials extends Credentials {
  readonly mac: Uint8Array;
}

/**
 * A third-party scheme written only against the public contract: `x-toy: <keyid>.<created>.<hex mac>`
 * over "<method> <url> <created>". Counts its calls so the test can see one parse per request.
 */
function toyScheme() {
  const calls = { parse: 0, verify: 0 };
  const scheme: Scheme<ToyCredentials> = {
    name: 'toy',
    detect: (message) => getHeader(message.headers, 'x-toy') !== undefined,
    parse(message) {
      calls.parse++;
      const [keyId = '', created = '', hex = ''] = (getHeader(message.headers, 'x-toy') ?? '').split('.');
      return {
        keyId,
        algorithm: 'sha256',
        created: Number(created),
        nonce: hex,
        coveredComponents: ['@method', '@target-uri'],
        mac: Uint8Array.from(Buffer.from(hex, 'hex')),
      };
    },
    verify(credentials, resolved, context) {
      calls.verify++;
      const text = `${context.message.method} ${String(context.message.url)} ${credentials.created}`;
      const ok = macMatches(context.crypto, resolved, text, credentials.mac);
      if (typeof ok !== 'boolean') return ok.then((matched) => (matched ? MAC_MATCHED : MAC_MISMATCHED));
      return ok ? MAC_MATCHED : MAC_MISMATCHED;
    },
    async sign(message, signingKey) {
      const text = `${message.method} ${String(message.url)} ${NOW}`;
      const mac = nodeCryptoProvider.hmac('sha256', key.secret, encoder.encode(text)) as Uint8Array;
      return { headers: { 'x-toy': `${signingKey.keyId}.${NOW}.${Buffer.from(mac).toString('hex')}` } };
    },
  };
  return { scheme, calls };
}

function toyMessage(scheme: Scheme, url = 'https://api.example.com/things') {
  return scheme
    .sign({ method: 'GET', url, headers: {} }, { keyId: key.keyId, secret: key.secret })
    .then(({ headers }) => ({ method: 'GET', url, headers }));
}

describe('a third-party scheme on the two-phase contract', () => {
  it('gets the synchronous fast path: no promise when the resolver and the provider answer synchronously', async () => {
    const { scheme, calls } = toyScheme();
    const message = await toyMessage(scheme);
    const config = { keys, schemes: [scheme], crypto: nodeCryptoProvider, now: () => NOW };
    const accepted = runStages(config, message, new Uint8Array(0), undefined);
    // A plain value, not a promise: the stages ran to the end within this call.
    expect(accepted).not.toBeInstanceOf(Promise);
    expect((accepted as { result: { keyId: string; scheme: string } }).result).toMatchObject({
      keyId: key.keyId,
      scheme: 'toy',
    });
    // One parse and one verify per request: no second parse for the key id, no memo.
    expect(calls).toEqual({ parse: 1, verify: 1 });
    await expect(verifyMessage(message, null, config)).resolves.toMatchObject({ keyId: key.keyId });
    expect(calls).toEqual({ parse: 2, verify: 2 });
  });

  it('is answered by the pipeline for unknown keys and wrong MACs alike, after the same verify call', async () => {
    const { scheme, calls } = toyScheme();
    const message = await toyMessage(scheme);
    const config = { keys, schemes: [scheme], crypto: nodeCryptoProvider, now: () => NOW };
    const unknown = { ...message, headers: { 'x-toy': message.headers['x-toy']!.replace(key.keyId, 'hk_nobody') } };
    const wrong = { ...message, url: 'https://api.example.com/other' };
    const answers = await Promise.all(
      [unknown, wrong].map((m) => verifyMessage(m, null, config).catch((error: unknown) => toProblem(error).body)),
    );
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ code: 'signature_invalid' });
    // The unknown key id was verified (with the decoy) as much as the known one.
    expect(calls.verify).toBe(2);
  });
});

describe('side effects only in the commit stage (issue #11, defect 3)', () => {
  async function signedPost(body: string) {
    return signMessage(
      { method: 'POST', url: 'https://api.example.com/orders', headers: {}, body: encoder.encode(body) },
      { keyId: key.keyId, secret: key.printable },
      { now: () => NOW },
    );
  }

  it('a body-tampered copy sent first does not burn the genuine request (verifyMessage)', async () => {
    // The store's clock is the test's: its epoch (its creation) must lie before the signature.
    const nonceStore = memoryNonceStore({ now: () => (NOW - 600) * 1000 });
    const options = { keys, nonceStore, now: () => NOW, crypto: nodeCryptoProvider };
    const genuine = await signedPost('{"amount":5}');
    const message = { method: 'POST', url: genuine.url, headers: genuine.headers };
    await expect(verifyMessage(message, encoder.encode('{"amount":500}'), options)).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
    // Failed on the previous code with ERR_NONCE_REPLAYED: the copy had spent the nonce.
    await expect(verifyMessage(message, encoder.encode('{"amount":5}'), options)).resolves.toMatchObject({
      keyId: key.keyId,
    });
    await expect(verifyMessage(message, encoder.encode('{"amount":5}'), options)).rejects.toMatchObject({
      code: 'ERR_NONCE_REPLAYED',
    });
  });

  it('the same through the streaming header phase (checkSignature): the nonce is recorded by finish()', async () => {
    const recorded: string[] = [];
    const store: NonceStore = {
      async checkAndStore(_keyId, nonce) {
        if (recorded.includes(nonce)) return false;
        recorded.push(nonce);
        return true;
      },
    };
    const options = { keys, nonceStore: store, now: () => NOW, crypto: nodeCryptoProvider, hasBody: true };
    const genuine = await signedPost('{"amount":5}');
    const message = { method: 'POST', url: genuine.url, headers: genuine.headers };
    const tampered = await checkSignature(message, options);
    expect(recorded).toEqual([]);
    tampered.body!.update(encoder.encode('{"amount":500}'));
    await expect(tampered.body!.finish()).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(recorded).toEqual([]);
    const real = await checkSignature(message, options);
    real.body!.update(encoder.encode('{"amount":5}'));
    await real.body!.finish();
    expect(recorded).toHaveLength(1);
  });

  it('an algorithm the policy never accepts is refused before any key is looked up', async () => {
    const looked: string[] = [];
    const genuine = await signedPost('{}');
    const message = { method: 'POST', url: genuine.url, headers: genuine.headers };
    await expect(
      verifyMessage(message, encoder.encode('{}'), {
        keys: (id) => {
          looked.push(id);
          return keys(id);
        },
        now: () => NOW,
        policy: { algorithms: ['sha512'] },
      }),
    ).rejects.toMatchObject({ code: 'ERR_ALGORITHM_UNSUPPORTED' });
    expect(looked).toEqual([]);
  });
});
