/**
 * The verification pipeline: every way of verifying a request (the verify functions, the
 * middleware adapters, the server's gateway and forward-auth) runs these stages, in this order:
 *
 *   parse → gate → key + MAC → policy → body → commit
 *
 * - parse: the scheme reads its credentials once.
 * - gate: blocks in force for this source (a hook: the middleware's failure throttle), then the
 *   policy's algorithm allowlist, before any key is looked up.
 * - key + MAC: the key is resolved (synchronously when the resolver answers so); an unknown key
 *   id, or a key the request may not use, gets the decoy secret, the same MAC work and the same
 *   answer as a wrong MAC.
 * - policy: time window, nonce store epoch, required components, nonce presence, tag.
 * - body: the digest (or the MAC, for schemes that sign the body) over the body bytes.
 * - commit: the ONLY stage with side effects, run once the request is fully proven: the nonce is
 *   recorded, then the `commit` hook (clear failures, charge the rate limit). Once the commit and
 *   the body stage have both passed, a resolver with the optional `proven` capability is told
 *   (a key service's "last used"): never for a failure, a replay or a rate-limited request.
 *
 * A failure at any stage is reported once, to the `failed` hook, by {@link fail} — the one place
 * failures are recorded. A caller that must pass a request on before its body is known (a
 * streaming gateway) commits early with {@link Admission.commitBeforeBody}: the nonce is then a
 * reservation, released again if the body fails.
 */

import {
  AlgorithmUnsupported,
  BodyTooLarge,
  errorEntry,
  KeyUnknown,
  NonceMissing,
  NonceReplayed,
  SignatureInvalid,
  SignatureMissing,
  TagNotAccepted,
} from '../errors.js';
import { webCryptoProvider } from '../primitives/crypto.js';
import { concatBytes } from '../primitives/encoding.js';
import { isPromiseLike } from '../primitives/promise.js';
import { getHeader } from '../protocol/headers.js';
import { messageHasBody } from '../protocol/message-body.js';
import type {
  BodyCheck,
  BodyInput,
  CryptoProvider,
  KeyResolver,
  MessageParts,
  NonceStore,
  VerificationKey,
  VerifiedRequest,
  VerifyPolicy,
} from '../types.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from './contract.js';
import { checkVerificationKey, decoyKey } from './keys.js';
import {
  checkTimeWindow,
  enforceNonceEpoch,
  nonceTtlSeconds,
  type ResolvedPolicy,
  resolvePolicy,
  unixNow,
} from './policy.js';
import { attachSignatureBase, buildSignatureBaseReport } from './signature-base.js';

/** What a request claims, once parsed: handed to the hooks (never trusted before commit). */
export interface Claim {
  readonly scheme: Scheme;
  readonly credentials: Credentials;
}

/** The stage a failure happened in, for logs and metrics. */
export type Stage = 'parse' | 'gate' | 'key' | 'policy' | 'body' | 'commit';

/**
 * Side effects and gates the pipeline leaves to its caller (the middleware's failure throttle,
 * rate limiter and logs). `S` is whatever the caller knows about the source (its address).
 */
export interface PipelineHooks<S> {
  /**
   * Gate stage: throws (e.g. `TooManyFailures`) when a block is in force for this source. `claim`
   * is undefined when the credentials could not be parsed (the source is still gated).
   */
  gate?(claim: Claim | undefined, source: S): void | Promise<void>;
  /**
   * Commit stage, after the nonce is recorded: clear the source's failures, charge the rate
   * limit. Returns response headers (RateLimit fields); throws `RateLimited` to refuse.
   */
  commit?(
    verified: VerifiedRequest,
    source: S,
  ): Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  /** The one place a failure is recorded (throttle, logs). Must not throw. */
  failed?(error: unknown, claim: Claim | undefined, source: S, stage: Stage): void | Promise<void>;
}

/** Everything a pipeline run needs; the verify functions' options are one. */
export interface PipelineConfig<S = undefined> {
  keys: KeyResolver;
  schemes?: readonly Scheme[];
  policy?: VerifyPolicy;
  nonceStore?: NonceStore;
  crypto?: CryptoProvider;
  now?: () => number;
  hooks?: PipelineHooks<S>;
  /**
   * Mismatch diagnostics: a request refused as `signature_invalid` gets the server's signature
   * base (the scheme's optional `signatureBase` capability, built from the request alone, never
   * from a key) attached to its error, which `toProblem` adds to the problem body. Off by default:
   * it tells whoever sends requests exactly how the server canonicalises them (docs/troubleshooting.md).
   * The body is then kept in memory until the request is settled, to rebuild bases that cover it.
   */
  debugSignatures?: boolean;
}

/** A run's outcome: the verified request and the headers the commit hook asked for. */
export interface Accepted {
  readonly result: VerifiedRequest;
  readonly headers: Record<string, string>;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
let defaultSchemes: readonly Scheme[] | undefined;
let rfc9421Factory: (() => Scheme) | undefined;

/** Registers the default scheme's factory (set by the scheme module: no import cycle). */
export function setDefaultSchemeFactory(factory: () => Scheme): void {
  rfc9421Factory = factory;
}

/** Validates and returns the schemes of a config (default: `[rfc9421()]`). */
export function schemesOf(config: PipelineConfig<unknown>): readonly Scheme[] {
  if (!config || typeof config !== 'object') throw new TypeError('verify options are required');
  if (typeof config.keys !== 'function')
    throw new TypeError('options.keys must be a function (keyId) => key | undefined');
  if (config.schemes === undefined) {
    if (defaultSchemes === undefined) {
      if (rfc9421Factory === undefined) throw new TypeError('options.schemes is required');
      defaultSchemes = Object.freeze([rfc9421Factory()]);
    }
    return defaultSchemes;
  }
  const schemes = config.schemes;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw new TypeError('options.schemes must be a non-empty array of schemes');
  }
  for (let index = 0; index < schemes.length; index++) {
    if (!isScheme(schemes[index])) {
      throw new TypeError('options.schemes must be a non-empty array of schemes (detect, parse, verify)');
    }
  }
  return schemes;
}

/** Whether `value` implements the two-phase scheme contract. */
export function isScheme(value: unknown): value is Scheme {
  const scheme = value as Partial<Scheme> | null | undefined;
  return (
    typeof scheme === 'object' &&
    scheme !== null &&
    typeof scheme.detect === 'function' &&
    typeof scheme.parse === 'function' &&
    typeof scheme.verify === 'function'
  );
}

/**
 * One request's way through the stages. Holds what each stage hands the next, so that the
 * synchronous path allocates this object, the context and the result and nothing else.
 */
class Run<S> implements VerifyContext {
  readonly config: PipelineConfig<S>;
  readonly schemes: readonly Scheme[];
  readonly message: MessageParts;
  readonly hasBody: boolean;
  readonly policy: ResolvedPolicy;
  readonly crypto: CryptoProvider;
  readonly now: number;
  readonly source: S;
  scheme: Scheme | undefined;
  credentials: Credentials | undefined;
  /** The resolved key; undefined until resolved, or for an unknown key id. */
  key: VerificationKey | undefined;
  /** Set when the key stage used the decoy: the error to answer once the MAC work is done. */
  refusal: Error | undefined;
  verdict: SchemeVerdict | undefined;
  result: VerifiedRequest | undefined;
  stage: Stage = 'parse';
  /** The nonce store's epoch the policy stage checked `created` against (for checkAndStore). */
  checkedEpoch: number | undefined;
  /** The nonce is held in the store (committed or reserved). */
  nonceHeld = false;
  committed = false;
  failedOnce = false;
  /** Debug mode only: the body as received (whole, or the chunks fed so far). */
  debugBody: Uint8Array | undefined;
  debugChunks: Uint8Array[] | undefined;

  constructor(
    config: PipelineConfig<S>,
    schemes: readonly Scheme[],
    message: MessageParts,
    hasBody: boolean,
    source: S,
  ) {
    this.config = config;
    this.schemes = schemes;
    this.message = message;
    this.hasBody = hasBody;
    this.policy = resolvePolicy(config.policy, hasBody);
    this.crypto = config.crypto ?? webCryptoProvider;
    this.now = Math.floor((config.now ?? unixNow)());
    this.source = source;
  }

  get claim(): Claim | undefined {
    return this.scheme && this.credentials ? { scheme: this.scheme, credentials: this.credentials } : undefined;
  }
}

/**
 * Records a failure in the one place failures are recorded (the `failed` hook), once per run,
 * releasing a held nonce reservation first, and returns the error to throw.
 */
async function fail<S>(run: Run<S>, error: unknown): Promise<never> {
  if (!run.failedOnce) {
    run.failedOnce = true;
    if (run.config.debugSignatures === true) attachDebugBase(run, error);
    if (run.nonceHeld) await release(run);
    const failed = run.config.hooks?.failed;
    if (failed !== undefined) {
      try {
        await failed(error, run.claim, run.source, run.stage);
      } catch {
        // Recording a failure must never change the answer.
      }
    }
  }
  throw error;
}

/**
 * Debug mode: attaches the server's signature base to a `signature_invalid` refusal. Built from the
 * request alone (the same for an unknown key id as for a wrong signature), after the answer is
 * decided, and with no side effect: it changes nothing the stages recorded or will record.
 */
function attachDebugBase<S>(run: Run<S>, error: unknown): void {
  if (run.scheme === undefined || run.credentials === undefined) return;
  if (errorEntry(error)?.shownToClientAs !== 'signature_invalid') return;
  const report = buildSignatureBaseReport(run.scheme, run.credentials, {
    message: run.message,
    hasBody: run.hasBody,
    body: debugBodyOf(run),
    crypto: run.crypto,
  });
  if (report !== undefined) attachSignatureBase(error, report);
}

function debugBodyOf<S>(run: Run<S>): Uint8Array | undefined {
  if (run.debugBody !== undefined) return run.debugBody;
  const chunks = run.debugChunks;
  if (chunks === undefined) return run.hasBody ? undefined : new Uint8Array(0);
  return concatBytes(chunks);
}

/**
 * Debug mode: keeps a copy of a body chunk (the caller may reuse its buffer). Only for schemes whose
 * MAC covers the body itself: when the MAC was proven in the header stages, a body failure is a
 * digest failure, which carries no signature base.
 */
function keepChunk<S>(run: Run<S>, chunk: Uint8Array): void {
  if (run.config.debugSignatures !== true || run.verdict?.signatureMatches !== undefined) return;
  run.debugChunks ??= [];
  run.debugChunks.push(chunk.slice());
}

async function release<S>(run: Run<S>): Promise<void> {
  run.nonceHeld = false;
  const store = run.config.nonceStore;
  const nonce = run.credentials?.nonce;
  if (store?.release === undefined || nonce === undefined || run.result === undefined) return;
  try {
    await store.release(run.result.keyId, nonce);
  } catch {
    // The reservation then simply expires with its TTL: the genuine request must be re-signed.
  }
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
// key + MAC

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

function verifyWith<S>(run: Run<S>, found: VerificationKey | undefined | null): SchemeVerdict | Promise<SchemeVerdict> {
  const key = resolvedKey(run, found);
  return run.scheme!.verify(run.credentials!, key, run);
}

/** The MAC's answer: throws for a wrong MAC or a refused key, and builds the result. */
function settleMac<S>(run: Run<S>, verdict: SchemeVerdict): void {
  run.verdict = verdict;
  const matches = verdict.signatureMatches;
  if (matches === undefined) {
    if (verdict.body === null)
      throw new TypeError(`scheme ${run.scheme!.name}: a verdict without a MAC answer needs a body check`);
  } else {
    if (run.refusal !== undefined) throw run.refusal;
    if (!matches) throw new SignatureInvalid('signature does not match');
  }
  run.result = resultOf(run);
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

// ---------------------------------------------------------------------------------------------
// body

/** The body check as the pipeline feeds it: a body-signed MAC answers with the key stage's refusal. */
function bodyCheckOf<S>(run: Run<S>): BodyCheck | null {
  const verdict = run.verdict!;
  const body = verdict.body;
  if (body === null || verdict.signatureMatches !== undefined || run.refusal === undefined) return body;
  const refusal = run.refusal;
  const finish = async (done: Promise<void>) => {
    try {
      await done;
    } catch (error) {
      // The decoy's MAC did not match, as expected: answer as for any unknown / refused key.
      if (error instanceof SignatureInvalid) throw refusal;
      throw error;
    }
    throw refusal;
  };
  return {
    update: (chunk) => body.update(chunk),
    finish: () => finish(body.finish()),
    ...(body.complete !== undefined ? { complete: (bytes: Uint8Array) => finish(body.complete!(bytes)) } : {}),
  };
}

/** A body check whose `completeNow` answers synchronously (the core's own checks). */
interface SyncBodyCheck {
  completeNow(body: Uint8Array): void | Promise<void>;
}

function completeBody(check: BodyCheck, body: Uint8Array): void | Promise<void> {
  const now = (check as Partial<SyncBodyCheck>).completeNow;
  if (typeof now === 'function') return now.call(check, body);
  if (check.complete !== undefined) return check.complete(body);
  if (body.length > 0) check.update(body);
  return check.finish();
}

// ---------------------------------------------------------------------------------------------
// commit

function nonceStage<S>(run: Run<S>): void | Promise<void> {
  const store = run.config.nonceStore;
  const nonce = run.credentials!.nonce;
  if (store === undefined || nonce === undefined) return;
  const result = run.result!;
  const ttl = nonceTtlSeconds(run.policy, result.expires, run.now, result.acceptableUntil);
  const recorded =
    run.checkedEpoch === undefined
      ? store.checkAndStore(result.keyId, nonce, ttl)
      : store.checkAndStore(result.keyId, nonce, ttl, run.checkedEpoch);
  return recorded.then((fresh) => {
    if (!fresh) throw new NonceReplayed('nonce already used');
    run.nonceHeld = true;
  });
}

function commitStage<S>(run: Run<S>): Record<string, string> | Promise<Record<string, string>> {
  run.stage = 'commit';
  const recorded = nonceStage(run);
  if (recorded !== undefined) return recorded.then(() => commitHook(run));
  return commitHook(run);
}

function commitHook<S>(run: Run<S>): Record<string, string> | Promise<Record<string, string>> {
  const hook = run.config.hooks?.commit;
  if (hook === undefined) {
    run.committed = true;
    return NO_HEADERS;
  }
  const headers = hook(run.result!, run.source);
  if (isPromiseLike(headers)) {
    return Promise.resolve(headers).then((value) => {
      run.committed = true;
      return value ?? NO_HEADERS;
    });
  }
  run.committed = true;
  return headers ?? NO_HEADERS;
}

/**
 * After the body stage and the commit: tells a resolver with the `proven` capability. Best effort:
 * an error there (or a rejected promise, should it return one) is ignored, the request is proven.
 */
function reportProven<S>(run: Run<S>): void {
  const proven = run.config.keys.proven;
  if (proven === undefined) return;
  try {
    const answer = (proven as (request: VerifiedRequest) => unknown)(run.result!);
    if (isPromiseLike(answer)) Promise.resolve(answer).catch(() => undefined);
  } catch {
    // The capability is a side channel of the key source: it cannot refuse a proven request.
  }
}

// ---------------------------------------------------------------------------------------------
// the stages up to the body, shared by every entry point

/** parse → gate → key + MAC → policy; synchronous when every part answers synchronously. */
function headerStages<S>(run: Run<S>): void | Promise<void> {
  const gate = run.config.hooks?.gate;
  if (gate !== undefined) return gatedHeaderStages(run, gate);
  parseStage(run);
  run.stage = 'gate';
  algorithmGate(run);
  return keyStages(run);
}

async function gatedHeaderStages<S>(run: Run<S>, gate: NonNullable<PipelineHooks<S>['gate']>): Promise<void> {
  let parseError: unknown;
  try {
    parseStage(run);
  } catch (error) {
    parseError = error;
  }
  run.stage = 'gate';
  const gated = gate(parseError === undefined ? run.claim : undefined, run.source);
  if (isPromiseLike(gated)) await gated;
  if (parseError !== undefined) {
    run.stage = 'parse';
    throw parseError;
  }
  algorithmGate(run);
  const rest = keyStages(run);
  if (rest !== undefined) await rest;
}

function keyStages<S>(run: Run<S>): void | Promise<void> {
  run.stage = 'key';
  const keys = run.config.keys;
  const found = keys(run.credentials!.keyId);
  if (isPromiseLike(found)) {
    return Promise.resolve(found).then((key) => {
      const verdict = verifyWith(run, key);
      return isPromiseLike(verdict) ? Promise.resolve(verdict).then((v) => afterMac(run, v)) : afterMac(run, verdict);
    });
  }
  const verdict = verifyWith(run, found);
  if (isPromiseLike(verdict)) return Promise.resolve(verdict).then((v) => afterMac(run, v));
  return afterMac(run, verdict);
}

function afterMac<S>(run: Run<S>, verdict: SchemeVerdict): void | Promise<void> {
  settleMac(run, verdict);
  run.stage = 'policy';
  return policyStage(run);
}

function newRun<S>(
  config: PipelineConfig<S>,
  schemes: readonly Scheme[],
  message: MessageParts,
  hasBody: boolean,
  source: S,
): Run<S> {
  return new Run(config, schemes, message, hasBody, source);
}

// ---------------------------------------------------------------------------------------------
// entry points

/**
 * Runs every stage over a request whose body is given whole or as a stream (bytes, a web
 * stream, any async iterable such as Node's `IncomingMessage`), never buffering a stream.
 * Resolves with the verified request and the commit hook's headers; rejects with the
 * `HmacKitError` the failing stage threw, after reporting it once to the `failed` hook.
 *
 * @example
 * ```ts
 * const { result } = await runPipeline({ keys, nonceStore, schemes: [rfc9421()] }, message, body, undefined);
 * ```
 */
export function runPipeline<S>(
  config: PipelineConfig<S>,
  message: MessageParts,
  body: BodyInput,
  source: S,
): Promise<Accepted> {
  const accepted = runStages(config, message, body, source);
  return isPromiseLike(accepted) ? (accepted as Promise<Accepted>) : Promise.resolve(accepted);
}

/**
 * {@link runPipeline} without a promise of its own when every stage answers synchronously (a
 * buffered body, an in-memory key cache, node:crypto, no nonce store): a verification is short
 * enough for each promise hop to show. Throws synchronously only from the synchronous path;
 * failures are always reported to the `failed` hook first.
 */
export function runStages<S>(
  config: PipelineConfig<S>,
  message: MessageParts,
  body: BodyInput,
  source: S,
): Accepted | Promise<Accepted> {
  const schemes = schemesOf(config as PipelineConfig<unknown>);
  const maxBodyBytes = resolvePolicy(config.policy, false).maxBodyBytes;
  if (!(body instanceof Uint8Array)) return streamedRun(config, schemes, message, body, source, maxBodyBytes);
  const run = newRun(config, schemes, message, messageHasBody(message) || body.length > 0, source);
  if (config.debugSignatures === true) run.debugBody = body;
  try {
    if (maxBodyBytes !== Number.POSITIVE_INFINITY) declaredSizeCheck(message, maxBodyBytes);
    if (body.length > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
    const header = headerStages(run);
    const rest = header !== undefined ? header.then(() => bufferedRest(run, body)) : bufferedRest(run, body);
    if (isPromiseLike(rest)) return Promise.resolve(rest).then(undefined, (error) => fail(run, error));
    return rest;
  } catch (error) {
    return fail(run, error);
  }
}

/**
 * {@link runPipeline} for a body read in one piece only once the header stages passed (an
 * adapter whose framework buffers the body: a source the gate blocks never has it read). The
 * request is judged to have a body from its head; should bytes arrive for a head that announced
 * none (HTTP/2 without content-length), the header stages run again for a request with a body,
 * so a signature that does not cover it is not accepted.
 *
 * @example
 * ```ts
 * const { result } = await runPipelineDeferred(config, message, () => readWholeBody(req), address);
 * ```
 */
export async function runPipelineDeferred<S>(
  config: PipelineConfig<S>,
  message: MessageParts,
  read: () => Promise<Uint8Array>,
  source: S,
): Promise<Accepted> {
  const schemes = schemesOf(config as PipelineConfig<unknown>);
  const maxBodyBytes = resolvePolicy(config.policy, false).maxBodyBytes;
  let run = newRun(config, schemes, message, messageHasBody(message), source);
  try {
    if (maxBodyBytes !== Number.POSITIVE_INFINITY) declaredSizeCheck(message, maxBodyBytes);
    const header = headerStages(run);
    if (header !== undefined) await header;
    run.stage = 'body';
    const bytes = asBytes(await read());
    if (config.debugSignatures === true) run.debugBody = bytes;
    if (bytes.length > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
    if (bytes.length > 0 && !run.hasBody) {
      run = newRun(config, schemes, message, true, source);
      if (config.debugSignatures === true) run.debugBody = bytes;
      const again = headerStages(run);
      if (again !== undefined) await again;
    }
    return await bufferedRest(run, bytes);
  } catch (error) {
    return fail(run, error);
  }
}

function declaredSizeCheck(message: MessageParts, maxBodyBytes: number): void {
  const declared = Number(getHeader(message.headers ?? {}, 'content-length'));
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
}

function bufferedRest<S>(run: Run<S>, body: Uint8Array): Accepted | Promise<Accepted> {
  run.stage = 'body';
  const check = bodyCheckOf(run);
  if (check !== null) {
    const pending = completeBody(check, body);
    if (pending !== undefined) return Promise.resolve(pending).then(() => committed(run));
  }
  return committed(run);
}

function committed<S>(run: Run<S>): Accepted | Promise<Accepted> {
  const headers = commitStage(run);
  if (isPromiseLike(headers)) {
    return Promise.resolve(headers).then((value) => {
      reportProven(run);
      return { result: run.result!, headers: value };
    });
  }
  reportProven(run);
  return { result: run.result!, headers };
}

async function streamedRun<S>(
  config: PipelineConfig<S>,
  schemes: readonly Scheme[],
  message: MessageParts,
  body: BodyInput,
  source: S,
  maxBodyBytes: number,
): Promise<Accepted> {
  // Async iterables (Node's IncomingMessage, generators) are read through their own iterator:
  // wrapping them in an async generator costs a promise hop and objects per chunk.
  const iterable =
    body !== null &&
    body !== undefined &&
    typeof (body as ReadableStream<Uint8Array>).getReader !== 'function' &&
    typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function';
  let run: Run<S> | undefined;
  let chunks: AsyncIterator<Uint8Array> | undefined;
  let ended = false;
  try {
    if (maxBodyBytes !== Number.POSITIVE_INFINITY) declaredSizeCheck(message, maxBodyBytes);
    chunks = iterable ? (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() : chunksOf(body);
    // A body that arrives without Content-Length (HTTP/2, in-process requests) is still a body:
    // look at the first bytes before deciding what the signature must cover.
    let first: Uint8Array | undefined;
    for (;;) {
      const next = await chunks.next();
      if (next.done) {
        ended = true;
        break;
      }
      const chunk = asBytes(next.value);
      if (chunk.length > 0) {
        first = chunk;
        break;
      }
    }
    run = newRun(config, schemes, message, messageHasBody(message) || first !== undefined, source);
    const header = headerStages(run);
    if (header !== undefined) await header;
    run.stage = 'body';
    const check = bodyCheckOf(run);
    let received = 0;
    const feed = (chunk: Uint8Array) => {
      received += chunk.length;
      if (received > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
      keepChunk(run!, chunk);
      check?.update(chunk);
    };
    if (check !== null) {
      if (first) feed(first);
      while (!ended) {
        const next = await chunks.next();
        if (next.done) ended = true;
        else feed(asBytes(next.value));
      }
      await check.finish();
    }
    return await committed(run);
  } catch (error) {
    if (run === undefined) {
      // Failed before the stages started (a body that cannot be read, a declared size too large).
      run = newRun(config, schemes, message, messageHasBody(message), source);
      run.stage = 'body';
    }
    return fail(run, error);
  } finally {
    // Stopping early (error, no body check) tells the source, as for...of would.
    if (!ended && chunks !== undefined) await chunks.return?.(undefined);
  }
}

/**
 * A request admitted by the header stages, for callers that stream the body or never see it.
 * Feed every body byte to `update`, then `finish()` (body stage and commit). A caller that
 * must hand the request on before the body is known calls `commitBeforeBody()` first: the
 * nonce is then held as a reservation that a failing body releases.
 */
export interface Admission {
  readonly result: VerifiedRequest;
  /** The MAC was proven in the header stages; `false`: only the body proves the sender. */
  readonly signatureVerified: boolean;
  /** Whether there is a body check to feed. */
  readonly checksBody: boolean;
  update(chunk: Uint8Array): void;
  /** Body stage (when there is a body check) and commit, unless already committed. Resolves with the commit's headers. */
  finish(): Promise<Record<string, string>>;
  /** `finish()` for a body already in memory, fed whole (a one-shot digest when the provider has one). */
  complete(body: Uint8Array): Promise<Record<string, string>>;
  /**
   * Commits before the body is known (only when `signatureVerified`): records the nonce (a
   * reservation a failing `finish()` releases), then the commit hook. Resolves with its headers.
   * The request is not proven yet: the resolver's `proven` capability is told by `finish()`.
   */
  commitBeforeBody(): Promise<Record<string, string>>;
  /** Records a failure of the caller's own (body too large, body unreadable), releasing a reservation. */
  fail(error: unknown): Promise<never>;
  /**
   * After `finish()`/`complete()` succeeded: the bytes the signature covers when the scheme signs a
   * re-serialisation of the body (django-hmac), to be handed on instead of the body as received;
   * `undefined` for every other scheme.
   */
  signedBody(): Uint8Array | undefined;
}

/**
 * The header stages (parse, gate, key + MAC, policy) as an {@link Admission}. Rejects, after
 * recording the failure once, when a stage fails.
 *
 * @example
 * ```ts
 * const admission = await admitRequest(config, message, { hasBody: true }, address);
 * await admission.commitBeforeBody(); // streaming: the upstream sees the body before it is checked
 * for await (const chunk of body) { admission.update(chunk); forward(chunk); }
 * await admission.finish(); // DigestMismatch: the nonce is released, the failure recorded
 * ```
 */
export function admitRequest<S>(
  config: PipelineConfig<S>,
  message: MessageParts,
  options: { hasBody: boolean },
  source: S,
): Promise<Admission> {
  let run: Run<S>;
  try {
    run = newRun(config, schemesOf(config as PipelineConfig<unknown>), message, Boolean(options.hasBody), source);
  } catch (error) {
    return Promise.reject(error);
  }
  try {
    const header = headerStages(run);
    if (header !== undefined) return header.then(() => admissionOf(run)).catch((error) => fail(run, error));
    return Promise.resolve(admissionOf(run));
  } catch (error) {
    return fail(run, error);
  }
}

function admissionOf<S>(run: Run<S>): Admission {
  run.stage = 'body';
  const check = bodyCheckOf(run);
  const signatureVerified = run.verdict!.signatureMatches === true;
  let headers: Record<string, string> | undefined;
  let finished = false;
  return {
    result: run.result!,
    signatureVerified,
    checksBody: check !== null,
    update(chunk: Uint8Array) {
      keepChunk(run, chunk);
      check?.update(chunk);
    },
    async finish() {
      if (finished) throw new TypeError('finish() called twice');
      finished = true;
      try {
        run.stage = 'body';
        if (check !== null) await check.finish();
        if (!run.committed) headers = await commitStage(run);
        run.nonceHeld = false;
        reportProven(run);
        return headers ?? NO_HEADERS;
      } catch (error) {
        return fail(run, error);
      }
    },
    async complete(body: Uint8Array) {
      if (finished) throw new TypeError('finish() called twice');
      finished = true;
      try {
        run.stage = 'body';
        if (run.config.debugSignatures === true) run.debugBody = body;
        if (check !== null) {
          const pending = completeBody(check, body);
          if (pending !== undefined) await pending;
        }
        if (!run.committed) headers = await commitStage(run);
        run.nonceHeld = false;
        reportProven(run);
        return headers ?? NO_HEADERS;
      } catch (error) {
        return fail(run, error);
      }
    },
    async commitBeforeBody() {
      if (!signatureVerified) {
        throw new TypeError('commitBeforeBody(): the signature is only proven by the body');
      }
      try {
        headers = await commitStage(run);
        return headers;
      } catch (error) {
        return fail(run, error);
      }
    },
    fail: (error: unknown) => fail(run, error),
    signedBody: () => (check?.signedBody === undefined ? undefined : check.signedBody()),
  };
}

// ---------------------------------------------------------------------------------------------

async function* chunksOf(body: BodyInput): AsyncGenerator<Uint8Array> {
  if (body === null || body === undefined) return;
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  if (typeof (body as ReadableStream<Uint8Array>).getReader === 'function') {
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    let done = false;
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) {
          done = true;
          return;
        }
        yield next.value;
      }
    } finally {
      // Stopping early (error, no body check) cancels the stream instead of leaving it locked and
      // buffering. Not awaited: cancelling one branch of a tee (request.clone()) only settles once
      // the other branch is cancelled too.
      if (!done) reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  }
  if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    yield* body as AsyncIterable<Uint8Array>;
    return;
  }
  throw new TypeError('body must be a Uint8Array, a ReadableStream or an async iterable of Uint8Array');
}

/** A body chunk, checked. */
export function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError('body chunks must be Uint8Array');
}
