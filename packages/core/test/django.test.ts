import { execFileSync } from 'node:child_process';
import type { HashAlgorithm, MessageParts, VerificationKey, VerifyOptions } from '@hmac-kit/core';
import {
  BodyAmbiguous,
  BodyNotSigned,
  BodyTooLarge,
  djangoFormSerialization,
  djangoHmac,
  djangoJsonSerialization,
  formatDjangoTimestamp,
  HmacKitError,
  KeyUnknown,
  PythonJsonError,
  parseDjangoTimestamp,
  pythonFloatRepr,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

const NOW = 1_763_800_000;
const raw = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const crypto = nodeCryptoProvider;
type Message = Omit<MessageParts, 'headers'> & { headers: Record<string, string>; body?: Uint8Array };
const scheme = djangoHmac();
const keyFor = (algorithm: HashAlgorithm): VerificationKey => ({
  keyId: 'f4c3801c-a277-4fcb-92bb-44cb814026f6',
  secret: raw,
  algorithm,
});

let python = false;
try {
  execFileSync('python3', ['-c', 'import json, urllib.parse']);
  python = true;
} catch {
  if (process.env.CI === 'true') throw new Error('python3 is required for the django serialisation cross-check');
  console.warn('[django] python3 not found: the cross-check against CPython is SKIPPED');
}

/** Runs CPython over a batch of inputs; one JSON-encoded result (or null on error) per input. */
function pythonBatch(program: string, inputs: string[]): (string | null)[] {
  const output = execFileSync('python3', ['-c', program], { input: JSON.stringify(inputs), maxBuffer: 64 << 20 });
  return JSON.parse(output.toString('utf8'));
}

const PY_JSON = `
import json, sys
out = []
for text in json.load(sys.stdin):
    try:
        data = json.loads(text)
        out.append(None if not data else json.dumps(data, separators=(',', ':')))
    except Exception:
        out.append('<error>')
print(json.dumps(out))
`;

const PY_FORM = `
import json, sys, urllib.parse
out = []
for text in json.load(sys.stdin):
    d = {}
    for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True, encoding='utf-8', errors='replace'):
        d[k] = v
    out.append(json.dumps(d, separators=(',', ':')) if d else None)
print(json.dumps(out))
`;

const jsonText = fc.oneof(
  // JSON built by JS, then re-spaced: what clients send.
  fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  // Python-specific corners: floats, exponents, -0, big ints, escapes, duplicate keys, unicode.
  fc.constantFrom(
    '{"x": 1.0, "y": 1e16, "z": 1e-5, "w": 0.0001, "v": -0.0, "u": 123456789012345678901234567890}',
    '[1E400, -1e400, 1e-400, -1e-400, 0.1, 2.5e-7, 1.7976931348623157e308, 5e-324]',
    '{"a": 1, "b": 2, "a": 3}',
    '"\\ud83d\\ude00 \\u00e9 \\u0000 \\u007f \\/ \\b\\f\\n\\r\\t"',
    '{"emoji": "😀", "nul": "\\u0000", "del": "\u007f", "ctl": "\\u001f"}',
    '[-0, 0, 0.0, 100, 1e2, 1E+2, 12.50]',
    '  {"nested": [[[{"k": []}]], {}]}  ',
    '{}',
    '[]',
    '""',
    '0',
    'false',
    'null',
    'NaN',
    '[1,]',
    '{"a" 1}',
    '01',
    '"\\ud800"',
    '1.',
  ),
  fc.double({ noNaN: true }).map((d) => `[${String(d)}]`),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => JSON.stringify({ s })),
);

function isStrictJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!python)('body re-serialisation matches CPython', () => {
  it('JSON: json.dumps(json.loads(body), separators=(",", ":")) for generated and corner-case bodies', () => {
    const inputs = fc.sample(jsonText, 600);
    const expected = pythonBatch(PY_JSON, inputs);
    inputs.forEach((input, i) => {
      let actual: string | null;
      try {
        actual = djangoJsonSerialization(input);
      } catch (error) {
        expect(error).toBeInstanceOf(PythonJsonError);
        actual = '<error>';
      }
      // CPython accepts NaN/Infinity literals, DRF (strict) does not: we follow DRF. Such literals are
      // what strict JSON.parse refuses and CPython takes (a text test would also catch "NaN" inside a string).
      if (expected[i] !== '<error>' && !isStrictJson(input)) expect(actual).toBe('<error>');
      else expect({ input, actual }).toEqual({ input, actual: expected[i] });
    });
  });

  it('floats: repr() for random doubles', () => {
    const doubles = fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), 1000);
    const expected = pythonBatch(
      'import json, sys\nprint(json.dumps([repr(float(x)) for x in json.load(sys.stdin)]))',
      doubles.map((d) => (Object.is(d, -0) ? '-0.0' : String(d))),
    );
    doubles.forEach((d, i) => {
      expect(pythonFloatRepr(d)).toBe(expected[i]);
    });
  });

  it('forms: QueryDict (parse_qsl, last value per key) serialised as a dict', () => {
    const inputs = [
      ...fc.sample(fc.string({ maxLength: 40 }), 300),
      ...fc.sample(
        fc
          .array(
            fc.tuple(
              fc.constantFrom('a', 'b', 'ü', '%C3%BC', 'x+y', ''),
              fc.constantFrom('1', '', 'a%20b', 'c+d', '%ZZ', '%E2%82'),
            ),
            {
              maxLength: 5,
            },
          )
          .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
        300,
      ),
      'a=1&b=2&a=3',
      'flag&x=',
      '&&',
    ];
    const expected = pythonBatch(PY_FORM, inputs);
    inputs.forEach((input, i) => {
      expect({ input, actual: djangoFormSerialization(input) }).toEqual({ input, actual: expected[i] });
    });
  });
});

describe('timestamps', () => {
  it('parses what fromisoformat reads from the clients, with an offset', () => {
    expect(parseDjangoTimestamp('2023-05-07T14:15:37.862560+00:00')).toBeCloseTo(1683468937.86256, 5);
    expect(parseDjangoTimestamp('2023-05-07T14:15:37.862Z')).toBeCloseTo(1683468937.862, 5);
    expect(parseDjangoTimestamp('2023-05-07T16:15:37+02:00')).toBe(1683468937);
    for (const bad of ['2023-05-07T14:15:37', '2023-02-30T00:00:00Z', '2023-05-07T24:00:00Z', 'yesterday', '']) {
      expect(parseDjangoTimestamp(bad)).toBeUndefined();
    }
    expect(formatDjangoTimestamp(1683468937.86256)).toBe('2023-05-07T14:15:37.862560+00:00');
    expect(formatDjangoTimestamp(1683468937)).toBe('2023-05-07T14:15:37+00:00');
  });
});

async function signed(message: Message, algorithm: HashAlgorithm = 'sha256'): Promise<Message> {
  const out = await scheme.sign(
    message,
    { keyId: keyFor(algorithm).keyId, secret: Buffer.from(raw).toString('base64'), algorithm },
    { crypto, now: () => NOW },
  );
  return { ...message, headers: { ...message.headers, ...out.headers } };
}

async function verifyFully(
  message: Message,
  extra: Partial<VerifyOptions> = {},
  algorithm: HashAlgorithm = 'sha256',
  s = scheme,
) {
  const key = keyFor(algorithm);
  const body = message.body ?? new Uint8Array(0);
  const check = await checkWith(s, message, {
    keys: (id) => (id === key.keyId ? key : undefined),
    crypto,
    now: () => NOW + 1,
    hasBody: body.length > 0,
    ...extra,
  });
  if (check.body) {
    check.body.update(body);
    await check.body.finish();
  }
  return check.result;
}

const post = (): Message => ({
  method: 'POST',
  url: 'https://api.example.com/orders',
  headers: { 'content-type': 'application/json' },
  body: new TextEncoder().encode('{"item": 42, "name": "Jürgen"}'),
});

describe('djangoHmac() round trips', () => {
  for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
    it(algorithm, async () => {
      const message = await signed(post(), algorithm);
      expect(message.headers['Authorization']).toMatch(new RegExp(`^HMAC-SHA${algorithm.slice(3)} `));
      const result = await verifyFully(message, {}, algorithm);
      expect(result).toMatchObject({ scheme: 'django-hmac', coveredComponents: ['content-digest'] });
      expect(result.nonce).toBe(message.headers['Authorization']!.split(';')[1]);
      await verifyFully(
        await signed({ method: 'GET', url: 'https://api.example.com/x', headers: {} }, algorithm),
        {},
        algorithm,
      );
    });
  }

  it('form bodies', async () => {
    const message = await signed({
      method: 'POST',
      url: 'https://api.example.com/form',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new TextEncoder().encode('a=1&b=x+y'),
    });
    await verifyFully(message);
  });

  it('refuses a form that repeats a field: Python signs only its last value (issue #11 defect 5)', async () => {
    const body = new TextEncoder().encode('a=1&b=x+y&a=2');
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    // What a django_hmac_authentication client signs for it (last value of each field).
    const message = await signed({ method: 'POST', url: 'https://api.example.com/form', headers, body });
    await expect(verifyFully(message)).rejects.toBeInstanceOf(BodyAmbiguous);
  });

  it('refuses JSON that repeats a name, and a body without a Content-Type (issue #11 defect 5)', async () => {
    const message = await signed(post());
    const duplicate = new TextEncoder().encode('{"item": 42, "item": 43, "name": "Jürgen"}');
    await expect(verifyFully({ ...message, body: duplicate })).rejects.toBeInstanceOf(BodyAmbiguous);
    const getSignature = await signed({ method: 'GET', url: 'https://api.example.com/x', headers: {} });
    await expect(
      verifyFully({ ...getSignature, method: 'POST', body: new TextEncoder().encode('{"amount":5}') }),
    ).rejects.toBeInstanceOf(BodyNotSigned);
  });
});

describe('tamper matrix', () => {
  const auth = (m: Message) => m.headers['Authorization']!;
  const cases: [string, (m: Message) => Message, new (...args: never[]) => HmacKitError][] = [
    [
      'body value',
      (m) => ({ ...m, body: new TextEncoder().encode('{"item": 43, "name": "Jürgen"}') }),
      SignatureInvalid,
    ],
    ['body emptied to {}', (m) => ({ ...m, body: new TextEncoder().encode('{}') }), SignatureInvalid],
    ['body not JSON', (m) => ({ ...m, body: new TextEncoder().encode('{"item": 42,') }), SignatureInvalid],
    ['body invalid UTF-8', (m) => ({ ...m, body: new Uint8Array([0x7b, 0xff, 0x7d]) }), SignatureInvalid],
    ['content type', (m) => ({ ...m, headers: { ...m.headers, 'content-type': 'text/plain' } }), SignatureInvalid],
    [
      'timestamp',
      (m) => ({
        ...m,
        headers: { ...m.headers, Authorization: auth(m).replace(/;[^;]+$/, `;${formatDjangoTimestamp(NOW - 1)}`) },
      }),
      SignatureInvalid,
    ],
    [
      'signature',
      (m) => ({
        ...m,
        headers: { ...m.headers, Authorization: auth(m).replace(/;(.)/, (_, c) => `;${c === 'A' ? 'B' : 'A'}`) },
      }),
      SignatureInvalid,
    ],
    [
      'key id',
      (m) => ({ ...m, headers: { ...m.headers, Authorization: auth(m).replace('f4c3801c', 'aaaaaaaa') } }),
      KeyUnknown,
    ],
    [
      'algorithm',
      // A known key of another algorithm answers as a wrong signature (issue #11, 7a).
      (m) => ({ ...m, headers: { ...m.headers, Authorization: auth(m).replace('HMAC-SHA256', 'HMAC-SHA512') } }),
      SignatureInvalid,
    ],
    [
      'naive timestamp',
      (m) => ({ ...m, headers: { ...m.headers, Authorization: auth(m).replace('+00:00', '') } }),
      SignatureMalformed,
    ],
    [
      'signature not base64',
      (m) => ({ ...m, headers: { ...m.headers, Authorization: auth(m).replace(/;[^;]+;/, ';***;') } }),
      SignatureMalformed,
    ],
  ];
  for (const [part, tamper, expected] of cases) {
    it(`${part} -> ${expected.name}`, async () => {
      const message = await signed(post());
      await verifyFully(message);
      await expect(verifyFully(tamper(message))).rejects.toBeInstanceOf(expected);
    });
  }

  it('does NOT cover method, path or query (documented limitation)', async () => {
    const message = await signed(post());
    await verifyFully({ ...message, method: 'DELETE', url: 'https://other.example.com/admin?drop=all' });
  });

  it('anyAlgorithm accepts the algorithm the client picked, as the Django server does', async () => {
    const message = await signed(post(), 'sha512');
    await expect(verifyFully(message, {}, 'sha256')).rejects.toBeInstanceOf(SignatureInvalid);
    await verifyFully(message, {}, 'sha256', djangoHmac({ anyAlgorithm: true }));
  });

  it('bounds the buffered body', async () => {
    const message = await signed(post());
    await expect(verifyFully(message, {}, 'sha256', djangoHmac({ maxBodyBytes: 10 }))).rejects.toBeInstanceOf(
      BodyTooLarge,
    );
  });
});

describe('time window', () => {
  it('uses the policy window (Django itself: 5 s, nothing in the future)', async () => {
    const message = await signed(post());
    await verifyFully(message, { now: () => NOW + 300 });
    await expect(verifyFully(message, { now: () => NOW + 301 })).rejects.toBeInstanceOf(SignatureExpired);
    await expect(verifyFully(message, { now: () => NOW + 6, policy: { maxAgeSeconds: 5 } })).rejects.toBeInstanceOf(
      SignatureExpired,
    );
    await expect(verifyFully(message, { now: () => NOW - 6 })).rejects.toBeInstanceOf(SignatureFromFuture);
  });
});

describe('malformed headers only ever produce HmacKitError', () => {
  it('random Authorization values', async () => {
    const key = keyFor('sha256');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('HMAC-SHA256 ', 'HMAC-SHA384 ', 'HMAC-SHA512 '),
        fc.oneof(
          fc.string({ maxLength: 120 }),
          fc
            .tuple(fc.string({ maxLength: 40 }), fc.base64String({ maxLength: 90 }), fc.string({ maxLength: 40 }))
            .map((p) => p.join(';')),
        ),
        fc.boolean(),
        async (prefix, rest, withBody) => {
          const message = {
            method: 'POST',
            url: 'https://x/',
            headers: { authorization: prefix + rest, 'content-type': 'application/json' },
          };
          try {
            claimedKeyId(scheme, message);
            const check = await checkWith(scheme, message, {
              keys: () => key,
              crypto,
              now: () => NOW,
              hasBody: withBody,
            });
            if (check.body) {
              check.body.update(new TextEncoder().encode(rest));
              await check.body.finish();
            }
          } catch (error) {
            expect(error).toBeInstanceOf(HmacKitError);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('the Postman pre-request script (ms timestamps) verifies', async () => {
    // CRYPTO_NOTES.md cross-check: GET at 2023-05-07T14:15:37.862Z signs 17Le5TAb... with the documented secret.
    const key: VerificationKey = {
      keyId: 'f4c3801c-a277-4fcb-92bb-44cb814026f6',
      secret: new Uint8Array(Buffer.from('vEOQRdvaK4jyeLKGNP9oqpYTUvt/GZWbGG6iNmnDh8c=', 'base64')),
      algorithm: 'sha256',
    };
    const ts = '2023-05-07T14:15:37.862+00:00';
    await checkWith(
      djangoHmac(),
      {
        method: 'GET',
        url: 'https://api.example.com/',
        headers: { authorization: `HMAC-SHA256 ${key.keyId};17Le5TAbjDASdu4XvNjWV7I/P2UtfwEKt+BW9AmZIwo=;${ts}` },
      },
      { keys: () => key, crypto, now: () => parseDjangoTimestamp(ts)! + 1, hasBody: false },
    );
  });
});
