import {
  type MessageParts,
  type NonceStore,
  rfc9421,
  SignatureMalformed,
  signatureBase,
  signMessage,
  type VerifyRequestOptions,
  verifyMessage,
} from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/primitives/encoding.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const key = makeKey('hk_test_1');
const signingKey = { keyId: key.keyId, secret: key.printable };

async function signed(
  message: MessageParts & { body?: Uint8Array | string | null },
  options: Record<string, unknown> = {},
): Promise<{ message: MessageParts; body: Uint8Array | null }> {
  const { headers } = await signMessage(message, signingKey, { now: () => NOW, ...options });
  const body = typeof message.body === 'string' ? utf8(message.body) : (message.body ?? null);
  return { message: { ...message, headers: { ...(message.headers as Record<string, string>), ...headers } }, body };
}

function verifyOptions(extra: Partial<VerifyRequestOptions> = {}): VerifyRequestOptions {
  return { keys: resolverOf(key), now: () => NOW, ...extra };
}

describe('signer: covered components', () => {
  it('covers @method @authority @path @query on a GET, without content-digest', async () => {
    const { message } = await signed({ method: 'GET', url: 'https://api.example.com/v1/items?a=1', headers: {} });
    const headers = message.headers as Record<string, string>;
    expect(headers['Signature-Input']).toMatch(
      /^sig=\("@method" "@authority" "@path" "@query"\);created=1767225600;nonce="[A-Za-z0-9_-]{22}";keyid="hk_test_1";alg="hmac-sha256"$/,
    );
    expect(headers['Content-Digest']).toBeUndefined();
  });

  it('adds content-digest for a body and for an empty POST/PUT/PATCH body', async () => {
    for (const method of ['POST', 'PUT', 'PATCH']) {
      const { message } = await signed({ method, url: 'https://api.example.com/x', headers: {} });
      const headers = message.headers as Record<string, string>;
      expect(headers['Signature-Input']).toContain('"content-digest"');
      // SHA-256 of zero bytes.
      expect(headers['Content-Digest']).toBe('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
      await expect(verifyMessage(message, null, verifyOptions())).resolves.toMatchObject({ keyId: 'hk_test_1' });
    }
    const { message } = await signed({ method: 'DELETE', url: 'https://api.example.com/x', headers: {}, body: 'x' });
    expect((message.headers as Record<string, string>)['Signature-Input']).toContain('"content-digest"');
  });

  it('writes sha-512 digests when the scheme asks for them, and the verifier accepts both', async () => {
    const scheme = rfc9421({ digestAlgorithm: 'sha-512' });
    const { message, body } = await signed(
      { method: 'POST', url: 'https://a.example/x', headers: {}, body: 'hello' },
      { scheme },
    );
    expect((message.headers as Record<string, string>)['Content-Digest']).toMatch(/^sha-512=:/);
    await expect(verifyMessage(message, body, verifyOptions())).resolves.toBeDefined();
  });

  it('covers caller-named headers, parameters expires/tag/nonce, and rejects missing ones with TypeError', async () => {
    const { message } = await signed(
      { method: 'GET', url: 'https://a.example/x', headers: { 'X-Tenant': 'acme' } },
      { coveredHeaders: ['X-Tenant'], expiresInSeconds: 30, tag: 'app', nonce: 'n-1' },
    );
    expect((message.headers as Record<string, string>)['Signature-Input']).toBe(
      'sig=("@method" "@authority" "@path" "@query" "x-tenant");created=1767225600;expires=1767225630;nonce="n-1";keyid="hk_test_1";alg="hmac-sha256";tag="app"',
    );
    await expect(
      signMessage({ method: 'GET', url: 'https://a.example/x', headers: {} }, signingKey, {
        coveredHeaders: ['x-missing'],
      }),
    ).rejects.toThrow(TypeError);
    await expect(
      signMessage({ method: 'GET', url: 'https://a.example/x', headers: {} }, signingKey, {
        coveredHeaders: 'content-type' as never,
      }),
    ).rejects.toThrow(TypeError);
    await expect(
      signMessage({ method: 'GET', url: 'https://a.example/x', headers: {} }, { keyId: 'k', secret: 'nope' }),
    ).rejects.toThrow(TypeError);
  });
});

describe('derived components (RFC 9421 section 2.2) and field canonicalisation (2.1)', () => {
  const input = (covered: string) => `sig=(${covered});created=1;keyid="k"`;
  const base = (url: string, covered: string, headers: Record<string, string | string[]> = {}, method = 'GET') =>
    signatureBase({ method, url, headers: { ...headers, 'signature-input': input(covered) } }, input(covered))
      .split('\n')
      .slice(0, -1);

  it('@authority is lowercased without the default port', () => {
    expect(base('https://API.Example.COM:443/p', '"@authority"')).toEqual(['"@authority": api.example.com']);
    expect(base('http://Example.com:80/p', '"@authority"')).toEqual(['"@authority": example.com']);
    expect(base('https://example.com:8443/p', '"@authority"')).toEqual(['"@authority": example.com:8443']);
  });

  it('@path, @query (with "?", and "?" for none), @target-uri, @scheme, @request-target, @method', () => {
    const covered = '"@method" "@path" "@query" "@target-uri" "@scheme" "@request-target"';
    expect(base('https://example.com/a/b?x=1&y=2', covered, {}, 'PATCH')).toEqual([
      '"@method": PATCH',
      '"@path": /a/b',
      '"@query": ?x=1&y=2',
      '"@target-uri": https://example.com/a/b?x=1&y=2',
      '"@scheme": https',
      '"@request-target": /a/b?x=1&y=2',
    ]);
    expect(base('https://example.com', '"@path" "@query"')).toEqual(['"@path": /', '"@query": ?']);
    expect(base('https://example.com/p?', '"@query"')).toEqual(['"@query": ?']);
  });

  it('@query-param re-encodes names and values (RFC 9421 2.2.8 examples) and refuses repeated names', () => {
    const url =
      'https://example.com/parameters?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something';
    expect(
      base(url, '"@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20"'),
    ).toEqual([
      '"@query-param";name="var": this%20is%20a%20big%0Avalue',
      '"@query-param";name="bar": with%20plus%20whitespace',
      '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
    ]);
    expect(() => base('https://e.com/?a=1&a=2', '"@query-param";name="a"')).toThrow(SignatureMalformed);
    expect(() => base('https://e.com/?a=1', '"@query-param";name="b"')).toThrow(SignatureMalformed);
  });

  it('trims values, replaces obs-fold with a space and joins multiple lines with ", "', () => {
    expect(
      base('https://e.com/', '"x-a" "x-b" "x-c"', {
        'X-A': '  padded\t ',
        'x-b': ['one', '  two  '],
        'x-c': 'folded\r\n   line',
      }),
    ).toEqual(['"x-a": padded', '"x-b": one, two', '"x-c": folded line']);
  });

  it('reads fields from Headers objects and from Node-style records alike', () => {
    const fromHeaders = signatureBase(
      {
        method: 'GET',
        url: 'https://e.com/',
        headers: new Headers({ 'X-A': ' v ', 'signature-input': input('"x-a"') }),
      },
      input('"x-a"'),
    );
    expect(fromHeaders.split('\n')[0]).toBe('"x-a": v');
  });

  it('supports sf and key parameters on structured fields', () => {
    const digest = 'sha-512=:AAAA:,   sha-256=:BBBB:';
    expect(
      base('https://e.com/', '"content-digest";sf "content-digest";key="sha-256"', { 'content-digest': digest }),
    ).toEqual(['"content-digest";sf: sha-512=:AAAA:, sha-256=:BBBB:', '"content-digest";key="sha-256": :BBBB:']);
  });

  it('rejects malformed component lists', () => {
    for (const covered of [
      '"@method" "@method"',
      '"@signature-params"',
      '"@status"',
      '"X-Upper"',
      '"@unknown"',
      '"x-missing"',
      '"@method";req',
    ]) {
      expect(() => base('https://e.com/', covered), covered).toThrow(SignatureMalformed);
    }
  });
});

describe('verifier policy', () => {
  it('requires the default components and content-digest for bodies', async () => {
    const { message } = await signed(
      { method: 'GET', url: 'https://a.example/x?q=1', headers: {} },
      { components: ['@method', '@authority', '@path'] },
    );
    await expect(verifyMessage(message, null, verifyOptions())).rejects.toMatchObject({
      code: 'ERR_COMPONENT_NOT_COVERED',
    });
    await expect(
      verifyMessage(
        message,
        null,
        verifyOptions({ policy: { requiredComponents: ['@method', '@authority', '@path'] } }),
      ),
    ).resolves.toBeDefined();

    const post = await signed(
      { method: 'POST', url: 'https://a.example/x', headers: {}, body: 'x' },
      { components: ['@method', '@authority', '@path', '@query'] },
    );
    await expect(verifyMessage(post.message, post.body, verifyOptions())).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISSING',
    });
  });

  it('treats a body that arrives without Content-Length as a body (digest required)', async () => {
    const { message } = await signed({ method: 'DELETE', url: 'https://a.example/x', headers: {} });
    await expect(verifyMessage(message, null, verifyOptions())).resolves.toBeDefined();
    await expect(verifyMessage(message, utf8('smuggled'), verifyOptions())).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISSING',
    });
  });

  it('enforces maxAgeSeconds (default 300) and clockSkewSeconds (default 5) with serverTime', async () => {
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    await expect(verifyMessage(message, null, verifyOptions({ now: () => NOW + 300 }))).resolves.toBeDefined();
    await expect(verifyMessage(message, null, verifyOptions({ now: () => NOW + 301 }))).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_EXPIRED',
      serverTime: NOW + 301,
    });
    await expect(verifyMessage(message, null, verifyOptions({ now: () => NOW - 5 }))).resolves.toBeDefined();
    await expect(verifyMessage(message, null, verifyOptions({ now: () => NOW - 6 }))).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_FROM_FUTURE',
      serverTime: NOW - 6,
    });
    await expect(
      verifyMessage(message, null, verifyOptions({ now: () => NOW + 20, policy: { maxAgeSeconds: 10 } })),
    ).rejects.toMatchObject({ code: 'ERR_SIGNATURE_EXPIRED' });
    await expect(
      verifyMessage(message, null, verifyOptions({ now: () => NOW - 20, policy: { clockSkewSeconds: 30 } })),
    ).resolves.toBeDefined();
  });

  it('honours expires', async () => {
    const { message } = await signed(
      { method: 'GET', url: 'https://a.example/x', headers: {} },
      { expiresInSeconds: 10 },
    );
    await expect(verifyMessage(message, null, verifyOptions({ now: () => NOW + 10 }))).resolves.toMatchObject({
      expires: NOW + 10,
    });
    await expect(verifyMessage(message, null, verifyOptions({ now: () => NOW + 11 }))).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_EXPIRED',
      serverTime: NOW + 11,
    });
  });

  it('requires a nonce by default', async () => {
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} }, { nonce: false });
    await expect(verifyMessage(message, null, verifyOptions())).rejects.toMatchObject({ code: 'ERR_NONCE_MISSING' });
    await expect(
      verifyMessage(message, null, verifyOptions({ policy: { requireNonce: false } })),
    ).resolves.toBeDefined();
  });

  it('accepts only the configured tags', async () => {
    const tagged = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} }, { tag: 'billing' });
    const untagged = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    const policy = { tags: ['billing'] };
    await expect(verifyMessage(tagged.message, null, verifyOptions({ policy }))).resolves.toMatchObject({
      tag: 'billing',
    });
    await expect(verifyMessage(untagged.message, null, verifyOptions({ policy }))).rejects.toMatchObject({
      code: 'ERR_TAG_NOT_ACCEPTED',
    });
    await expect(
      verifyMessage(tagged.message, null, verifyOptions({ policy: { tags: ['other'] } })),
    ).rejects.toMatchObject({ code: 'ERR_TAG_NOT_ACCEPTED' });
  });

  it('binds the algorithm to the key: alg param disagreeing with the key, or a refused algorithm, fails', async () => {
    const key512 = makeKey('hk_512', 'sha512', 2);
    const options = { keys: resolverOf(key, key512), now: () => NOW };
    // Signed with the right (sha256) key but claiming hmac-sha512.
    const lying = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} }, { includeAlg: false });
    const headers = lying.message.headers as Record<string, string>;
    const forged = {
      ...lying.message,
      headers: { ...headers, 'Signature-Input': headers['Signature-Input']!.replace(/$/, ';alg="hmac-sha512"') },
    };
    await expect(verifyMessage(forged, null, options)).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    const m = await signMessage(
      { method: 'GET', url: 'https://a.example/x', headers: {} },
      { keyId: 'hk_test_1', secret: key.printable },
      {
        now: () => NOW,
        includeAlg: false,
        components: ['@method', '@authority', '@path', '@query'],
      },
    );
    // Re-sign the base that claims sha512 with the sha256 key: MAC valid with the key, alg disagrees ->
    // the answer of a wrong MAC (issue #11, 7a: no algorithm_unsupported telling known key ids apart).
    const claim = await signMessage(
      { method: 'GET', url: 'https://a.example/x', headers: {} },
      { keyId: 'hk_test_1', secret: key.printable, algorithm: 'sha256' },
      {
        now: () => NOW,
        nonce: 'n',
      },
    );
    expect(m.headers['Signature-Input']).not.toContain('alg=');
    const alg512Input = claim.headers['Signature-Input']!.replace('alg="hmac-sha256"', 'alg="hmac-sha512"');
    const base = signatureBase(
      { method: 'GET', url: 'https://a.example/x', headers: { 'signature-input': alg512Input } },
      alg512Input,
    );
    const { webCryptoProvider } = await import('@hmac-kit/core');
    const { toBase64 } = await import('../src/primitives/encoding.js');
    const mac = await webCryptoProvider.hmac('sha256', key.secret, utf8(base));
    const mismatched = {
      method: 'GET',
      url: 'https://a.example/x',
      headers: { 'signature-input': alg512Input, signature: `sig=:${toBase64(mac)}:` },
    };
    await expect(verifyMessage(mismatched, null, options)).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });

    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    await expect(
      verifyMessage(message, null, { ...options, policy: { algorithms: ['sha512'] } }),
    ).rejects.toMatchObject({
      code: 'ERR_ALGORITHM_UNSUPPORTED',
    });
    const unknownAlg = { ...message, headers: { ...(message.headers as Record<string, string>) } };
    unknownAlg.headers['Signature-Input'] = unknownAlg.headers['Signature-Input']!.replace('hmac-sha256', 'hmac-md5');
    await expect(verifyMessage(unknownAlg, null, options)).rejects.toMatchObject({ code: 'ERR_ALGORITHM_UNSUPPORTED' });
  });

  it('verifies every algorithm', async () => {
    for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
      const k = makeKey(`hk_${algorithm}`, algorithm, 5);
      const { headers } = await signMessage(
        { method: 'POST', url: 'https://a.example/x', headers: {}, body: 'b' },
        { keyId: k.keyId, secret: k.printable, algorithm },
        { now: () => NOW },
      );
      expect(headers['Signature-Input']).toContain(`alg="hmac-${algorithm}"`);
      await expect(
        verifyMessage({ method: 'POST', url: 'https://a.example/x', headers }, utf8('b'), {
          keys: resolverOf(k),
          now: () => NOW,
        }),
      ).resolves.toMatchObject({ key: { algorithm } });
    }
  });

  it('rejects policy nonsense with TypeError', async () => {
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    await expect(verifyMessage(message, null, verifyOptions({ policy: { maxAgeSeconds: -1 } }))).rejects.toThrow(
      TypeError,
    );
    await expect(
      verifyMessage(message, null, verifyOptions({ policy: { algorithms: ['md5' as never] } })),
    ).rejects.toThrow(TypeError);
    await expect(verifyMessage(message, null, { keys: 'nope' as never })).rejects.toThrow(TypeError);
  });
});

describe('signature selection', () => {
  it("verifies the first hmac signature with a keyid, skipping other parties' signatures", async () => {
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    const headers = message.headers as Record<string, string>;
    const proxyInput = 'proxy=("@authority");created=1767225600;keyid="proxy-key";alg="ed25519"';
    const withProxy = {
      ...message,
      headers: {
        'signature-input': `${proxyInput}, ${headers['Signature-Input']}`,
        signature: `proxy=:AAAA:, ${headers['Signature']}`,
      },
    };
    await expect(verifyMessage(withProxy, null, verifyOptions())).resolves.toMatchObject({ keyId: 'hk_test_1' });
  });

  it('only considers the configured label when one is given', async () => {
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} }, { label: 'mine' });
    await expect(verifyMessage(message, null, verifyOptions())).resolves.toBeDefined();
    await expect(
      verifyMessage(message, null, verifyOptions({ schemes: [rfc9421({ label: 'mine' })] })),
    ).resolves.toBeDefined();
    await expect(
      verifyMessage(message, null, verifyOptions({ schemes: [rfc9421({ label: 'other' })] })),
    ).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_MISSING',
    });
  });

  it('reports a missing signature as SignatureMissing', async () => {
    await expect(
      verifyMessage({ method: 'GET', url: 'https://a.example/', headers: {} }, null, verifyOptions()),
    ).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_MISSING',
    });
  });
});

describe('unknown keys and replay', () => {
  it('computes an HMAC with a same-length dummy key for unknown key ids before throwing KeyUnknown', async () => {
    const calls: Array<{ algorithm: string; keyLength: number }> = [];
    const { webCryptoProvider } = await import('@hmac-kit/core');
    const counting = {
      ...webCryptoProvider,
      hmac: (algorithm: 'sha256', k: Uint8Array, data: Uint8Array) => {
        calls.push({ algorithm, keyLength: k.length });
        return webCryptoProvider.hmac(algorithm, k, data);
      },
    };
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    await expect(
      verifyMessage(message, null, verifyOptions({ keys: () => undefined, crypto: counting })),
    ).rejects.toMatchObject({
      code: 'ERR_KEY_UNKNOWN',
    });
    const tampered = { ...message, url: 'https://a.example/y' };
    await expect(verifyMessage(tampered, null, verifyOptions({ crypto: counting }))).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_INVALID',
    });
    expect(calls).toEqual([
      { algorithm: 'sha256', keyLength: 32 },
      { algorithm: 'sha256', keyLength: 32 },
    ]);
  });

  it('records the nonce only after the signature verified, and refuses replays', async () => {
    const seen: Array<[string, string, number]> = [];
    const store = memoryNonceStore();
    const recording: NonceStore = {
      async checkAndStore(keyId, nonce, ttl) {
        seen.push([keyId, nonce, ttl]);
        return store.checkAndStore(keyId, nonce, ttl);
      },
    };
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} }, { nonce: 'once' });
    const tampered = { ...message, url: 'https://a.example/other' };
    await expect(verifyMessage(tampered, null, verifyOptions({ nonceStore: recording }))).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_INVALID',
    });
    expect(seen).toEqual([]);
    await expect(verifyMessage(message, null, verifyOptions({ nonceStore: recording }))).resolves.toMatchObject({
      nonce: 'once',
    });
    expect(seen).toEqual([['hk_test_1', 'once', 305]]);
    await expect(verifyMessage(message, null, verifyOptions({ nonceStore: recording }))).rejects.toMatchObject({
      code: 'ERR_NONCE_REPLAYED',
    });
  });

  it('uses expires for the nonce TTL when it ends sooner', async () => {
    const seen: number[] = [];
    const store: NonceStore = {
      checkAndStore: async (_k, _n, ttl) => {
        seen.push(ttl);
        return true;
      },
    };
    const { message } = await signed(
      { method: 'GET', url: 'https://a.example/x', headers: {} },
      { expiresInSeconds: 60 },
    );
    await verifyMessage(message, null, verifyOptions({ nonceStore: store, now: () => NOW + 10 }));
    expect(seen).toEqual([55]);
  });

  it('fails closed when the nonce store is unreachable', async () => {
    const { StoreUnavailable } = await import('@hmac-kit/core');
    const store: NonceStore = {
      checkAndStore: async () => {
        throw new StoreUnavailable('redis down');
      },
    };
    const { message } = await signed({ method: 'GET', url: 'https://a.example/x', headers: {} });
    await expect(verifyMessage(message, null, verifyOptions({ nonceStore: store }))).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
  });
});

describe('bodies', () => {
  it('checks Content-Digest incrementally over streamed chunks (web stream and async iterable)', async () => {
    const body = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const { message } = await signed({ method: 'PUT', url: 'https://a.example/blob', headers: {}, body });
    const chunks = (bytes: Uint8Array) => {
      const out: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += 7777) out.push(bytes.subarray(i, i + 7777));
      return out;
    };
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks(body)) controller.enqueue(c);
        controller.close();
      },
    });
    await expect(verifyMessage(message, stream, verifyOptions())).resolves.toBeDefined();
    async function* iterable() {
      yield* chunks(body);
    }
    await expect(verifyMessage(message, iterable(), verifyOptions())).resolves.toBeDefined();
    const altered = body.slice();
    altered[54_321]! ^= 1;
    await expect(verifyMessage(message, altered, verifyOptions())).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
  });

  it('refuses bodies over policy.maxBodyBytes, by Content-Length or while streaming', async () => {
    const body = new Uint8Array(2048);
    const { message } = await signed({ method: 'POST', url: 'https://a.example/x', headers: {}, body });
    await expect(verifyMessage(message, body, verifyOptions({ policy: { maxBodyBytes: 1024 } }))).rejects.toMatchObject(
      {
        code: 'ERR_BODY_TOO_LARGE',
      },
    );
    const declared = {
      ...message,
      headers: { ...(message.headers as Record<string, string>), 'content-length': '2048' },
    };
    await expect(
      verifyMessage(declared, body, verifyOptions({ policy: { maxBodyBytes: 1024 } })),
    ).rejects.toMatchObject({
      code: 'ERR_BODY_TOO_LARGE',
    });
    await expect(
      verifyMessage(message, body, verifyOptions({ policy: { maxBodyBytes: 2048 } })),
    ).resolves.toBeDefined();
  });

  it('rejects Content-Digest without a supported algorithm, and malformed ones, as typed errors', async () => {
    const { message } = await signed({ method: 'POST', url: 'https://a.example/x', headers: {}, body: 'x' });
    const headers = message.headers as Record<string, string>;
    // Content-Digest is covered: a value changed after signing fails the MAC (the key + MAC stage runs
    // before the body stage reads the digest), whatever the new value's shape.
    for (const [digest, code] of [
      ['md5=:AAAA:', 'ERR_SIGNATURE_INVALID'],
      ['sha-256=AAAA', 'ERR_SIGNATURE_INVALID'],
      ['sha-256=:not base64:', 'ERR_SIGNATURE_INVALID'],
    ] as const) {
      await expect(
        verifyMessage({ ...message, headers: { ...headers, 'Content-Digest': digest } }, utf8('x'), verifyOptions()),
      ).rejects.toMatchObject({ code });
    }
  });
});
