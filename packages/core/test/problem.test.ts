import {
  AlgorithmUnsupported,
  BodyAmbiguous,
  BodyNotJson,
  BodyNotSigned,
  BodyTooLarge,
  BodyUnavailable,
  CharsetUnsupported,
  ComponentNotCovered,
  ContentEncodingUnsupported,
  DigestMismatch,
  DigestMissing,
  type ErrorCode,
  HmacKitError,
  KeyExpired,
  KeyInactive,
  KeyRevoked,
  KeyUnknown,
  NonceMissing,
  NonceReplayed,
  RateLimited,
  ScopeInsufficient,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
  StoreUnavailable,
  TagNotAccepted,
  TooManyFailures,
  toProblem,
} from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';

describe('toProblem (RFC 9457)', () => {
  const cases: Array<[HmacKitError | Error | string, number, string]> = [
    [new SignatureMissing('m'), 401, 'signature_missing'],
    [new SignatureMalformed('m'), 400, 'signature_malformed'],
    [new SignatureInvalid('m'), 401, 'signature_invalid'],
    [new KeyUnknown('m'), 401, 'signature_invalid'],
    [new KeyInactive('m'), 401, 'signature_invalid'],
    [new KeyRevoked('m'), 401, 'signature_invalid'],
    [new KeyExpired('m'), 401, 'signature_invalid'],
    [new BodyUnavailable('m'), 401, 'body_unavailable'],
    [new BodyNotSigned('m'), 401, 'body_not_signed'],
    [new BodyAmbiguous('m'), 400, 'body_ambiguous'],
    [new BodyNotJson('m'), 400, 'invalid_json'],
    [new CharsetUnsupported('m'), 415, 'charset_unsupported'],
    [new ContentEncodingUnsupported('m'), 415, 'content_encoding_unsupported'],
    [new SignatureExpired('m', 1_700_000_000), 401, 'signature_expired'],
    [new SignatureFromFuture('m', 1_700_000_000), 401, 'signature_from_future'],
    [new NonceMissing('m'), 401, 'nonce_missing'],
    [new NonceReplayed('m'), 401, 'nonce_replayed'],
    [new DigestMissing('m'), 401, 'digest_missing'],
    [new DigestMismatch('m'), 401, 'digest_mismatch'],
    [new ComponentNotCovered('m'), 401, 'component_not_covered'],
    [new AlgorithmUnsupported('m'), 401, 'algorithm_unsupported'],
    [new TagNotAccepted('m'), 401, 'tag_not_accepted'],
    [new BodyTooLarge('m'), 413, 'body_too_large'],
    [new ScopeInsufficient('m', ['orders:write']), 403, 'scope_insufficient'],
    [new RateLimited('m', { retryAfter: 7, limit: 10, windowSeconds: 60 }), 429, 'rate_limited'],
    [new TooManyFailures('m', { retryAfter: 30, limit: 0, windowSeconds: 30 }), 429, 'too_many_failures'],
    [new StoreUnavailable('m'), 503, 'store_unavailable'],
    // Outside the table: a 500, never a silent 401 (issue #11: errors as data).
    [new HmacKitError('unclassified'), 500, 'internal_error'],
    [new Error('db password is hunter2'), 500, 'internal_error'],
    ['thrown string', 500, 'internal_error'],
  ];

  for (const [error, status, code] of cases) {
    it(`${code} <- ${error instanceof Error ? error.constructor.name : typeof error}`, () => {
      const problem = toProblem(error, { instance: 'urn:request:1' });
      expect(problem.status).toBe(status);
      expect(problem.body).toMatchObject({
        status,
        code,
        type: `urn:hmac-kit:problem:${code}`,
        instance: 'urn:request:1',
      });
      expect(problem.headers['Content-Type']).toBe('application/problem+json');
      expect(typeof problem.body.title).toBe('string');
      // Nothing from the internal message reaches the client.
      expect(JSON.stringify(problem)).not.toContain('hunter2');
      expect(problem.body.detail).not.toBe('m');
      if (status === 401) expect(problem.headers['WWW-Authenticate']).toBe('Signature realm="hmac-kit"');
      else expect(problem.headers['WWW-Authenticate']).toBeUndefined();
    });
  }

  it('timestamp failures carry server_time and a Date header', () => {
    const problem = toProblem(new SignatureExpired('old', 1_700_000_000));
    expect(problem.body.server_time).toBe(1_700_000_000);
    expect(problem.headers['Date']).toBe('Tue, 14 Nov 2023 22:13:20 GMT');
  });

  it('rate limits carry Retry-After', () => {
    const problem = toProblem(new RateLimited('slow down', { retryAfter: 7.2, limit: 10, windowSeconds: 60 }));
    expect(problem.headers['Retry-After']).toBe('8');
    expect(problem.body.retry_after).toBe(8);
  });

  it('unknown, inactive, revoked and expired keys and a bad signature are byte-identical problems', () => {
    const errors = [
      new KeyUnknown('a'),
      new KeyInactive('b'),
      new KeyRevoked('c'),
      new KeyExpired('d'),
      new SignatureInvalid('e'),
    ];
    const bodies = errors.map((e) => JSON.stringify(toProblem(e, { instance: 'x' })));
    expect(new Set(bodies).size).toBe(1);
    // ...while the codes logs and audit read stay apart.
    expect(new Set(errors.map((e) => e.code)).size).toBe(errors.length);
  });

  it('an error whose code is not in the table is a 500 internal_error, not a 401', () => {
    // What a third-party subclass (or a code added without a row) looks like at run time.
    class Unlisted extends HmacKitError {
      override readonly code = 'ERR_SOMETHING_NEW' as ErrorCode;
    }
    const problem = toProblem(new Unlisted('a new failure'));
    expect(problem.status).toBe(500);
    expect(problem.body.code).toBe('internal_error');
    expect(problem.headers['WWW-Authenticate']).toBeUndefined();
  });

  it('uses the configured realm', () => {
    expect(toProblem(new SignatureMissing('x'), { realm: 'orders "api"' }).headers['WWW-Authenticate']).toBe(
      'Signature realm="orders \\"api\\""',
    );
  });
});
