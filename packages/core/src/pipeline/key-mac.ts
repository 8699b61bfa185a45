/**
 * The key + MAC stage's parts: the key the scheme MACs with (the resolved key, or the decoy for an
 * unknown key id or a key the request may not use, with the same work and the same answer as a
 * wrong MAC), the scheme's verdict, and the verified request built from it.
 */

import { KeyUnknown, SignatureInvalid } from '../errors.js';
import type { VerificationKey, VerifiedRequest } from '../types.js';
import type { ResolvedKey, SchemeVerdict } from './contract.js';
import { checkVerificationKey, decoyKey } from './keys.js';
import type { Run } from './run.js';

/** The key the scheme MACs with: the key itself, or the decoy (with {@link Run.refusal} set). */
function resolvedKey<S>(run: Run<S>, found: VerificationKey | undefined | null): ResolvedKey {
  const credentials = run.credentials!;
  const claimed = credentials.algorithm;
  // A malformed key from the resolver is a programming error (TypeError naming the key id, never
  // the secret); a printable hks_ secret is decoded, a missing algorithm is sha256.
  const key = checkVerificationKey(found, credentials.keyId);
  if (key === undefined) {
    run.refusal = new KeyUnknown('no key with this key id');
    return decoyKey(run.crypto, claimed ?? 'sha256');
  }
  run.key = key;
  // The client chooses the hash (among the policy's) when the scheme says so (django-hmac's
  // anyAlgorithm) or the key was stored with algorithm `any`, unless the scheme binds such keys.
  const clientChooses =
    claimed !== undefined &&
    (credentials.anyKeyAlgorithm === true || (key.anyAlgorithm === true && credentials.bindKeyAlgorithm !== true));
  const used = clientChooses ? claimed : key.algorithm;
  if ((claimed !== undefined && claimed !== used) || !run.policy.algorithms.includes(used)) {
    // A key the request may not use answers as a wrong MAC would (no algorithm_unsupported oracle
    // telling known key ids from unknown ones), after the same work.
    run.refusal = new SignatureInvalid(`the key signs with ${key.algorithm}, the request claims ${claimed ?? used}`);
    return decoyKey(run.crypto, claimed ?? key.algorithm);
  }
  return used === key.algorithm ? key : { secret: key.secret, algorithm: used };
}

/**
 * The key + MAC stage once the key lookup answered: the `beforeMac` hook (the same call for a key
 * found, an unknown key id and a refused key: it runs before the key is even looked at), then the
 * scheme's MAC with the key or the decoy.
 */
export function verifyWith<S>(
  run: Run<S>,
  found: VerificationKey | undefined | null,
): SchemeVerdict | Promise<SchemeVerdict> {
  const beforeMac = run.config.hooks?.beforeMac;
  if (beforeMac !== undefined) {
    // A refusal here is the gate's answer, learnt late: recorded as a gate refusal.
    run.stage = 'gate';
    beforeMac(run.claim!, run.source);
    run.stage = 'key';
  }
  const key = resolvedKey(run, found);
  return run.scheme!.verify(run.credentials!, key, run);
}

/** The MAC's answer: throws for a wrong MAC or a refused key, and builds the result. */
export function settleMac<S>(run: Run<S>, verdict: SchemeVerdict): void {
  run.verdict = verdict;
  const matches = verdict.signatureMatches;
  if (matches === undefined) {
    if (verdict.body === null)
      throw new TypeError(`scheme ${run.scheme!.name}: a verdict without a MAC answer needs a body check`);
  } else {
    if (run.refusal !== undefined) throw macFailure(run, run.refusal);
    if (!matches) throw macFailure(run, new SignatureInvalid('signature does not match'));
  }
  run.result = resultOf(run);
}

/** Tells the `macFailed` hook, synchronously, of the MAC stage's failure; returns it to throw. */
function macFailure<S>(run: Run<S>, error: Error): Error {
  const macFailed = run.config.hooks?.macFailed;
  if (macFailed !== undefined) {
    try {
      macFailed(error, run.claim!, run.source);
    } catch {
      // A tally must never change the answer.
    }
  }
  return error;
}

function resultOf<S>(run: Run<S>): VerifiedRequest {
  const credentials = run.credentials!;
  // For a body-signed scheme and a refused key, the result is never handed out (body() throws first).
  const key = run.key ?? {
    keyId: credentials.keyId,
    secret: new Uint8Array(0),
    algorithm: credentials.algorithm ?? 'sha256',
  };
  const result: VerifiedRequest = {
    scheme: run.scheme!.name,
    keyId: key.keyId,
    key,
    coveredComponents: credentials.coveredComponents,
  };
  if (credentials.created !== undefined) result.created = credentials.created;
  if (credentials.expires !== undefined) result.expires = credentials.expires;
  if (credentials.acceptableUntil !== undefined) result.acceptableUntil = credentials.acceptableUntil;
  if (credentials.nonce !== undefined) result.nonce = credentials.nonce;
  if (credentials.tag !== undefined) result.tag = credentials.tag;
  return result;
}
