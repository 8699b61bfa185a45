/**
 * The stages up to the body, shared by every entry point: parse → gate → key + MAC → policy.
 * Synchronous when every part answers synchronously (no gate hook or a synchronous one, a key
 * resolver and a scheme that answer synchronously, no nonce store epoch to read).
 */

import {
  AlgorithmUnsupported,
  NonceMissing,
  SignatureMissing,
  storeFailure,
  storeFailureThrower,
  TagNotAccepted,
} from '../errors.js';
import { isPromiseLike } from '../primitives/promise.js';
import type { PipelineHooks } from './config.js';
import type { Credentials, Scheme, SchemeVerdict, VerifyContext } from './contract.js';
import { settleMac, verifyWith } from './key-mac.js';
import { checkTimeWindow, enforceNonceEpoch } from './policy.js';
import type { Run } from './run.js';

/** parse → gate → key + MAC → policy; synchronous when every part answers synchronously. */
export function headerStages<S>(run: Run<S>): void | Promise<void> {
  const gate = run.config.hooks?.gate;
  if (gate !== undefined) return gatedHeaderStages(run, gate);
  parseStage(run);
  run.stage = 'gate';
  algorithmGate(run);
  return keyStages(run);
}

/**
 * parse → gate → key + MAC → policy with the caller's gate. Synchronous when the gate answers
 * synchronously (a throttle in memory): same stage order and the same decisions as when it answers
 * with a promise; a refusal is thrown (the entry points turn it into the recorded failure).
 */
function gatedHeaderStages<S>(run: Run<S>, gate: NonNullable<PipelineHooks<S>['gate']>): void | Promise<void> {
  let parseError: unknown;
  try {
    parseStage(run);
  } catch (error) {
    parseError = error;
  }
  run.stage = 'gate';
  const gated = gate(parseError === undefined ? run.claim : undefined, run.source);
  if (isPromiseLike(gated)) return Promise.resolve(gated).then(() => afterGate(run, parseError));
  return afterGate(run, parseError);
}

/** The stages after the gate let the source through: a parse failure now, or the algorithm gate and the key. */
function afterGate<S>(run: Run<S>, parseError: unknown): void | Promise<void> {
  if (parseError !== undefined) {
    run.stage = 'parse';
    throw parseError;
  }
  algorithmGate(run);
  return keyStages(run);
}

function keyStages<S>(run: Run<S>): void | Promise<void> {
  run.stage = 'key';
  const keys = run.config.keys;
  let found: ReturnType<typeof keys>;
  try {
    found = keys(run.credentials!.keyId);
  } catch (error) {
    throw storeFailure(error, 'key resolver');
  }
  if (isPromiseLike(found)) {
    return Promise.resolve(found).then((key) => {
      const verdict = verifyWith(run, key);
      return isPromiseLike(verdict) ? Promise.resolve(verdict).then((v) => afterMac(run, v)) : afterMac(run, verdict);
    }, keyResolverFailed);
  }
  const verdict = verifyWith(run, found);
  if (isPromiseLike(verdict)) return Promise.resolve(verdict).then((v) => afterMac(run, v));
  return afterMac(run, verdict);
}

/** A key resolver's rejection: `StoreUnavailable` (503) unless it is an hmac-kit error (`storeFailure`). */
const keyResolverFailed = storeFailureThrower('key resolver');

function afterMac<S>(run: Run<S>, verdict: SchemeVerdict): void | Promise<void> {
  settleMac(run, verdict);
  run.stage = 'policy';
  return policyStage(run);
}

// ---------------------------------------------------------------------------------------------
// parse

function parseStage<S>(run: Run<S>): void {
  const { schemes, message } = run;
  let scheme: Scheme | undefined;
  if (schemes.length === 1) {
    // One scheme: its parse reports a missing signature itself, detect() would only read the same headers.
    scheme = schemes[0]!;
  } else {
    for (let index = 0; index < schemes.length; index++) {
      if (schemes[index]!.detect(message)) {
        scheme = schemes[index];
        break;
      }
    }
    if (scheme === undefined) throw new SignatureMissing('no signature of an accepted scheme');
  }
  run.scheme = scheme;
  run.credentials = scheme.parse(message, run);
}

// ---------------------------------------------------------------------------------------------
// gate

function algorithmGate<S>(run: Run<S>): void {
  const claimed = run.credentials!.algorithm;
  // jose's order: an algorithm the policy never accepts is refused for everyone, before any key.
  if (claimed !== undefined && !run.policy.algorithms.includes(claimed)) {
    throw new AlgorithmUnsupported(`algorithm ${claimed} is not accepted`);
  }
}

// ---------------------------------------------------------------------------------------------
// policy

/**
 * The policy checks the pipeline applies to a scheme without its own `checkPolicy`: the time
 * window (`created`, `expires`), explicitly required components, a nonce when the policy requires
 * one, and the tag.
 *
 * @example
 * ```ts
 * checkPolicy(credentials, context) {
 *   defaultPolicyCheck(credentials, context);
 *   if (!credentials.coveredComponents.includes('x-tenant')) throw new ComponentNotCovered('x-tenant');
 * }
 * ```
 */
export function defaultPolicyCheck(credentials: Credentials, context: VerifyContext): void {
  const policy = context.policy;
  checkTimeWindow(credentials, policy, context.now);
  if (policy.requireNonce && credentials.nonce === undefined) throw new NonceMissing('a nonce is required');
  if (policy.tags !== undefined && (credentials.tag === undefined || !policy.tags.includes(credentials.tag))) {
    throw new TagNotAccepted('tag is not accepted');
  }
}

function policyStage<S>(run: Run<S>): void | Promise<void> {
  const scheme = run.scheme!;
  const credentials = run.credentials!;
  if (scheme.checkPolicy !== undefined) scheme.checkPolicy(credentials, run);
  else defaultPolicyCheck(credentials, run);
  // A store that lost its nonces (a Redis restart without persistence, a process restart with the
  // memory store) only knows every nonce from its epoch on: a signature made before it could be a
  // replay (issue #11, 1). The epoch checked is handed to the commit stage's checkAndStore.
  const store = run.config.nonceStore;
  if (store?.epoch === undefined || credentials.nonce === undefined) return;
  const epoch = enforceNonceEpoch(store, credentials.created, run.policy, run.now);
  if (isPromiseLike(epoch)) {
    return Promise.resolve(epoch).then((checked) => {
      run.checkedEpoch = checked;
    });
  }
  run.checkedEpoch = epoch;
}
