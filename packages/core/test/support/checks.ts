/**
 * Sign/verify checks that run unchanged in Node and in a browser page (bundled by
 * test/browser.test.ts): no Node APIs here, only the core's source and web standards.
 */

import {
  createSha2,
  createSignedFetch,
  type HashAlgorithm,
  HmacKitError,
  parseSecret,
  rfc9421,
  sha2Hmac,
  signatureBase,
  signMessage,
  signRequest,
  verifyMessage,
  verifyRequest,
  webCryptoProvider,
} from '../../src/index.js';
import { toHex, utf8 } from '../../src/primitives/encoding.js';
import { isWrittenAsPythonWasm, pythonFormWasmAvailable } from '../../src/schemes/django-hmac/python-form-wasm.js';
import { isWrittenAsPython } from '../../src/schemes/django-hmac/python-json-bytes.js';
import { type KnownAnswerVector, parseB25, vectorBody } from './vectors.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface CheckInputs {
  /** Text of test-support/vectors/rfc9421-b25.txt (RFC 9421 Appendix B.2.5). */
  b25: string;
  vectors: KnownAnswerVector[];
}

const NOW = 1_767_225_600;
const ALGORITHMS: HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
const WEB_NAMES = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' } as const;

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert(
    outcome instanceof HmacKitError,
    `expected ${code}, got ${outcome === undefined ? 'success' : String(outcome)}`,
  );
  assert(outcome.code === code, `expected ${code}, got ${outcome.code}`);
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
function bytes(length: number, seed: number): Uint8Array<ArrayBuffer> {
  let x = seed | 1;
  return new Uint8Array(length).map(() => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  });
}

export async function runCoreChecks(inputs: CheckInputs): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  async function check(name: string, run: () => Promise<void> | void): Promise<void> {
    try {
      await run();
      results.push({ name, ok: true });
    } catch (error) {
      results.push({
        name,
        ok: false,
        detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }

  await check("django-hmac's Python-form check: the WebAssembly module loads and answers as the JS", () => {
    assert(pythonFormWasmAvailable(), 'the WebAssembly module did not load (the JS fallback would run)');
    const bodies = [
      '{"a":1,"b":[true,null,-2],"c":"x\\n\\u00e9"}',
      '{"a":1,"a":2}',
      '{"a": 1}',
      '{"a":"\\u00E9"}',
      '{"a":-0}',
      '[1.5]',
      `{"note":"${'x'.repeat(70_000)}","n":${'9'.repeat(40)}}`,
      `${'['.repeat(33)}1${']'.repeat(33)}`,
    ];
    for (const body of bodies) {
      const data = utf8(body);
      assert(isWrittenAsPythonWasm(data) === isWrittenAsPython(data), `answers differ for ${body.slice(0, 40)}`);
    }
    for (let length = 0; length <= 64; length++) {
      const data = bytes(length, length + 11);
      assert(isWrittenAsPythonWasm(data) === isWrittenAsPython(data), `answers differ for random bytes ${length}`);
    }
  });

  await check('sha2 (pure TS, chunked) equals WebCrypto digest', async () => {
    for (const algorithm of ALGORITHMS) {
      for (const length of [0, 1, 55, 56, 64, 111, 112, 128, 1000, 70_000]) {
        const data = bytes(length, length + 1);
        const hash = createSha2(algorithm);
        for (let i = 0; i < data.length; i += 997) hash.update(data.subarray(i, i + 997));
        const expected = new Uint8Array(await crypto.subtle.digest(WEB_NAMES[algorithm], data));
        assert(toHex(hash.digest()) === toHex(expected), `${algorithm} length ${length}`);
      }
    }
  });

  await check('WebCrypto HMAC equals the pure-TS HMAC', async () => {
    for (const algorithm of ALGORITHMS) {
      for (const keyLength of [1, 32, 64, 200]) {
        const key = bytes(keyLength, keyLength);
        const data = bytes(3000, keyLength + 7);
        const web = await webCryptoProvider.hmac(algorithm, key, data);
        assert(toHex(web) === toHex(sha2Hmac(algorithm, key, data)), `${algorithm} key ${keyLength}`);
      }
    }
  });

  {
    const vector = parseB25(inputs.b25);
    const key = { keyId: vector.keyId, secret: vector.secret, algorithm: 'sha256' as const };
    const headers = {
      ...(vector.message.headers as Record<string, string>),
      'signature-input': vector.signatureInput,
      signature: vector.signature,
    };
    await check('RFC 9421 B.2.5 verifies', async () => {
      const verified = await verifyMessage({ ...vector.message, headers }, vector.body, {
        keys: (id) => (id === vector.keyId ? key : undefined),
        policy: { requiredComponents: vector.coveredComponents, requireNonce: false },
        now: () => vector.created,
      });
      assert(verified.keyId === vector.keyId, 'key id');
    });
    await check('RFC 9421 B.2.5 re-signs byte for byte', async () => {
      assert(
        signatureBase({ ...vector.message, headers }, vector.signatureInput) === vector.signatureBase,
        'signature base',
      );
      const signed = await signMessage({ ...vector.message, body: vector.body }, key, {
        scheme: rfc9421({ label: vector.label }),
        components: vector.coveredComponents,
        nonce: false,
        includeAlg: false,
        now: () => vector.created,
      });
      assert(signed.headers['Signature-Input'] === vector.signatureInput, 'Signature-Input');
      assert(signed.headers['Signature'] === vector.signature, 'Signature');
    });
  }

  for (const vector of inputs.vectors) {
    await check(`vector ${vector.name}: signer reproduces, verifier accepts`, async () => {
      const body = vectorBody(vector.request.body);
      const message = { method: vector.request.method, url: vector.request.url, headers: vector.request.headers };
      const { headers } = await signMessage(
        { ...message, body },
        { keyId: vector.key.keyId, secret: vector.key.secret, algorithm: vector.key.algorithm },
        {
          scheme: rfc9421({ digestAlgorithm: vector.digestAlgorithm }),
          coveredHeaders: vector.coveredHeaders,
          nonce: vector.nonce,
          now: () => vector.created,
          ...(vector.expiresInSeconds !== undefined ? { expiresInSeconds: vector.expiresInSeconds } : {}),
          ...(vector.tag !== undefined ? { tag: vector.tag } : {}),
        },
      );
      for (const [name, value] of Object.entries(vector.expected.headers)) {
        assert(headers[name] === value, `${name}: ${headers[name]} !== ${value}`);
      }
      assert(Object.keys(headers).length === Object.keys(vector.expected.headers).length, 'header set');
      const all = { ...vector.request.headers, ...vector.expected.headers };
      assert(
        signatureBase({ ...message, headers: all }, headers['Signature-Input']!) === vector.expected.signatureBase,
        'base',
      );
      const secret = parseSecret(vector.key.secret);
      await verifyMessage({ ...message, headers: all }, body, {
        keys: (id) => (id === vector.key.keyId ? { keyId: id, secret, algorithm: vector.key.algorithm } : undefined),
        now: () => vector.created,
      });
    });
  }

  await check('Request round trips for every algorithm, and tampering fails', async () => {
    for (const algorithm of ALGORITHMS) {
      const secret = bytes(32, algorithm.length);
      const keys = (id: string) => (id === 'hk_browser' ? { keyId: id, secret, algorithm } : undefined);
      const signed = await signRequest(
        new Request('https://api.example.com/v1/caf%C3%A9?x=1&y=%20', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Zoë', city: '東京' }),
        }),
        { keyId: 'hk_browser', secret, algorithm },
        { coveredHeaders: ['content-type'], now: () => NOW },
      );
      const verified = await verifyRequest(signed, { keys, now: () => NOW });
      assert(verified.key.algorithm === algorithm, 'algorithm');
      const altered = new Request(signed.url, { method: 'POST', headers: signed.headers, body: '{"name":"Eve"}' });
      await rejectsWith(verifyRequest(altered, { keys, now: () => NOW }), 'ERR_DIGEST_MISMATCH');
      const moved = new Request(signed.url.replace('x=1', 'x=2'), {
        method: 'POST',
        headers: signed.headers,
        body: await signed.clone().text(),
      });
      await rejectsWith(verifyRequest(moved, { keys, now: () => NOW }), 'ERR_SIGNATURE_INVALID');
      await rejectsWith(verifyRequest(signed.clone(), { keys: () => undefined, now: () => NOW }), 'ERR_KEY_UNKNOWN');
      await rejectsWith(verifyRequest(signed.clone(), { keys, now: () => NOW + 301 }), 'ERR_SIGNATURE_EXPIRED');
    }
  });

  await check('createSignedFetch signs what verifyRequest accepts', async () => {
    const secret = bytes(32, 99);
    let status = 0;
    const signedFetch = createSignedFetch({
      keyId: 'hk_fetch',
      secret,
      fetch: async (input) => {
        await verifyRequest(input as Request, { keys: () => ({ keyId: 'hk_fetch', secret, algorithm: 'sha256' }) });
        status = 200;
        return new Response('ok');
      },
    });
    await signedFetch('https://api.example.com/v1/orders', { method: 'POST', body: utf8('{"qty":1}') });
    assert(status === 200, 'verified');
  });

  await check('malformed signature headers produce only HmacKitError', async () => {
    const secret = bytes(32, 5);
    const { headers } = await signMessage(
      { method: 'GET', url: 'https://a.example/x', headers: {} },
      { keyId: 'k', secret },
      { now: () => NOW },
    );
    const junk = [
      '',
      'sig=',
      'sig=(',
      'sig=:@@:',
      'sig=("@method");created=x',
      'sig=();keyid="k";created=1',
      '\u00e9',
      'a=1,,b=2',
    ];
    for (const field of ['Signature', 'Signature-Input', 'Content-Digest']) {
      for (const value of junk) {
        const outcome = await verifyMessage(
          { method: 'POST', url: 'https://a.example/x', headers: { ...headers, [field]: value } },
          utf8('b'),
          {
            keys: () => ({ keyId: 'k', secret, algorithm: 'sha256' }),
            now: () => NOW,
          },
        ).then(
          () => undefined,
          (error: unknown) => error,
        );
        assert(outcome instanceof HmacKitError, `${field}: ${JSON.stringify(value)} gave ${String(outcome)}`);
      }
    }
  });

  return results;
}
