/**
 * The header stages as an {@link Admission}, for callers that stream the body or never see it (the
 * server's streaming gateway, forward-auth, the middleware's streamed bodies).
 */

import { isPromiseLike } from '../primitives/promise.js';
import type { BodyCheck, MessageParts, VerifiedRequest } from '../types.js';
import { bodyCheckOf, completeBody } from './body.js';
import { bodyProvenStage, commitStage, reportProven } from './commit.js';
import { type PipelineConfig, schemesOf } from './config.js';
import { fail, keepChunk } from './failure.js';
import { headerStages } from './header-stages.js';
import { NO_HEADERS, newRun, type Run } from './run.js';

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
   * reservation a failing `finish()` releases), then the commit hook, told that the body is
   * pending (the middleware charges the rate limit, and leaves the (address, key) failures as they
   * are). Resolves with its headers. The request is not proven yet: `finish()` runs the
   * `bodyProven` hook (the failures are cleared) and tells the resolver's `proven` capability
   * once the body passed; a body that fails is recorded as a failure like a wrong signature.
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
 * An {@link Admission} whose body stage and commit also answer without a promise when every step
 * answers synchronously (a body in memory, node:crypto, stores with the synchronous capabilities):
 * what {@link admitRequestEagerly} returns, for callers that count promise hops (the middleware).
 * Each `*Eagerly` method is its promise twin with the same stages, side effects and failure
 * recording; a failure of the request always comes back as a rejected promise (after `fail`
 * recorded it), never as a synchronous throw. Only a caller's bug throws synchronously (`finish()`
 * twice, `commitBeforeBody()` for a scheme the body proves), which the promise twins reject with.
 */
export interface EagerAdmission extends Admission {
  /** {@link Admission.finish}: the headers, or a promise of them when a step answered with one. */
  finishEagerly(): Record<string, string> | Promise<Record<string, string>>;
  /** {@link Admission.complete}: the headers, or a promise of them when a step answered with one. */
  completeEagerly(body: Uint8Array): Record<string, string> | Promise<Record<string, string>>;
  /** {@link Admission.commitBeforeBody}: the headers, or a promise of them when a step answered with one. */
  commitBeforeBodyEagerly(): Record<string, string> | Promise<Record<string, string>>;
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
  const admitted = admitRequestEagerly(config, message, Boolean(options.hasBody), source);
  return isPromiseLike(admitted) ? admitted : Promise.resolve(admitted);
}

/**
 * {@link admitRequest} without a promise when the header stages answer synchronously (no gate hook
 * or a synchronous one, a key resolver answering from memory, a synchronous MAC, no nonce epoch to
 * read): the same stages, in the same order, with the same failure recording. A failure always
 * comes back as a promise rejected after `fail` recorded it, never as a synchronous throw.
 *
 * @example
 * ```ts
 * const admitted = admitRequestEagerly(config, message, true, address);
 * const admission = isPromiseLike(admitted) ? await admitted : admitted;
 * const headers = admission.completeEagerly(body); // headers, or a promise of them
 * ```
 */
export function admitRequestEagerly<S>(
  config: PipelineConfig<S>,
  message: MessageParts,
  hasBody: boolean,
  source: S,
): EagerAdmission | Promise<EagerAdmission> {
  let run: Run<S>;
  try {
    run = newRun(config, schemesOf(config as PipelineConfig<unknown>), message, hasBody, source);
  } catch (error) {
    return Promise.reject(error);
  }
  try {
    const header = headerStages(run);
    if (header !== undefined) {
      return Promise.resolve(header)
        .then(() => new RunAdmission(run))
        .catch((error: unknown) => fail(run, error));
    }
    return new RunAdmission(run);
  } catch (error) {
    return fail(run, error);
  }
}

/**
 * The `beforeMac` hook again, right before the body stage decides the MAC of a scheme that signs
 * the body itself (X-API, django-hmac, webhooks, SigV4 without a payload hash: the verdict's
 * `signatureMatches` is undefined). For those the key stage's call came before the body had
 * arrived, so every forged request of a subject in flight together had passed it before the first
 * of them failed (10 x 10 pipelined forged X-API requests at `serve --workers 2`: 40 reached the
 * signature check where one at a time reaches 4 per process; review12-body-signed-in-flight.test.ts).
 * With a synchronous MAC nothing runs between this read and the failure's record (`fail` calls the
 * `failed` hook before its first await), as for the head's MAC. The same call for a known key, an
 * unknown key id and a refused key (their decoy check is fed the same way): no oracle. Reads only.
 */
function recheckBeforeBodyMac<S>(run: Run<S>): void {
  const beforeMac = run.config.hooks?.beforeMac;
  if (beforeMac === undefined || run.verdict!.signatureMatches !== undefined) return;
  // A refusal here is the gate's answer, learnt late: recorded as a gate refusal.
  run.stage = 'gate';
  beforeMac(run.claim!, run.source);
  run.stage = 'body';
}

/**
 * One admitted run. A class rather than an object literal of closures: its methods live on the
 * prototype, so admitting a request allocates this object and nothing per method.
 */
class RunAdmission<S> implements EagerAdmission {
  readonly result: VerifiedRequest;
  readonly signatureVerified: boolean;
  readonly checksBody: boolean;
  readonly #run: Run<S>;
  readonly #check: BodyCheck | null;
  /** The commit's headers once `commitBeforeBody()` committed. */
  #headers: Record<string, string> | undefined;
  #finished = false;

  constructor(run: Run<S>) {
    run.stage = 'body';
    this.#run = run;
    this.#check = bodyCheckOf(run);
    this.result = run.result!;
    this.signatureVerified = run.verdict!.signatureMatches === true;
    this.checksBody = this.#check !== null;
  }

  update(chunk: Uint8Array): void {
    keepChunk(this.#run, chunk);
    this.#check?.update(chunk);
  }

  finish(): Promise<Record<string, string>> {
    try {
      return promised(this.finishEagerly());
    } catch (error) {
      // A caller's bug (a second finish()) rejects, as it did when these were async functions.
      return Promise.reject(error);
    }
  }

  complete(body: Uint8Array): Promise<Record<string, string>> {
    try {
      return promised(this.completeEagerly(body));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  commitBeforeBody(): Promise<Record<string, string>> {
    try {
      return promised(this.commitBeforeBodyEagerly());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  fail(error: unknown): Promise<never> {
    return fail(this.#run, error);
  }

  signedBody(): Uint8Array | undefined {
    const check = this.#check;
    return check?.signedBody === undefined ? undefined : check.signedBody();
  }

  finishEagerly(): Record<string, string> | Promise<Record<string, string>> {
    this.#finishOnce();
    const run = this.#run;
    const check = this.#check;
    try {
      run.stage = 'body';
      if (check !== null) {
        // A MAC proven by the head (signatureVerified) needs no re-check: no call on that path.
        if (!this.signatureVerified) recheckBeforeBodyMac(run);
        return Promise.resolve(check.finish()).then(
          () => this.#conclude(),
          (error: unknown) => fail(run, error),
        );
      }
      return this.#conclude();
    } catch (error) {
      return fail(run, error);
    }
  }

  completeEagerly(body: Uint8Array): Record<string, string> | Promise<Record<string, string>> {
    this.#finishOnce();
    const run = this.#run;
    const check = this.#check;
    try {
      run.stage = 'body';
      if (run.config.debugSignatures === true) run.debugBody = body;
      if (check !== null) {
        // A MAC proven by the head (signatureVerified) needs no re-check: no call on that path.
        if (!this.signatureVerified) recheckBeforeBodyMac(run);
        const pending = completeBody(check, body);
        if (pending !== undefined) {
          return Promise.resolve(pending).then(
            () => this.#conclude(),
            (error: unknown) => fail(run, error),
          );
        }
      }
      return this.#conclude();
    } catch (error) {
      return fail(run, error);
    }
  }

  commitBeforeBodyEagerly(): Record<string, string> | Promise<Record<string, string>> {
    if (!this.signatureVerified) {
      throw new TypeError('commitBeforeBody(): the signature is only proven by the body');
    }
    const run = this.#run;
    try {
      // The body is not proven yet: the commit hook leaves what needs it to `bodyProven` (finish()).
      const headers = commitStage(run, true);
      if (isPromiseLike(headers)) {
        return Promise.resolve(headers).then(
          (committed) => {
            this.#headers = committed;
            return committed;
          },
          (error: unknown) => fail(run, error),
        );
      }
      this.#headers = headers;
      return headers;
    } catch (error) {
      return fail(run, error);
    }
  }

  /** `finish()`/`complete()` run once: a second call is a caller's bug, thrown as before. */
  #finishOnce(): void {
    if (this.#finished) throw new TypeError('finish() called twice');
    this.#finished = true;
  }

  /**
   * The end of `finish()`/`complete()` once the body check passed: commit (unless
   * `commitBeforeBody()` already did), end the nonce hold, report the request proven. One place,
   * so the two ways of ending a request cannot drift apart. A failure is recorded by `fail`.
   */
  #conclude(): Record<string, string> | Promise<Record<string, string>> {
    const run = this.#run;
    if (run.committed) {
      // Committed early: the body is proven only now, and with it what the commit left for it.
      let owed: Promise<void> | undefined;
      try {
        owed = bodyProvenStage(run);
      } catch (error) {
        return fail(run, error);
      }
      if (owed !== undefined) {
        return owed.then(
          () => this.#proven(this.#headers),
          (error: unknown) => fail(run, error),
        );
      }
      return this.#proven(this.#headers);
    }
    let headers: Record<string, string> | Promise<Record<string, string>>;
    try {
      headers = commitStage(run);
    } catch (error) {
      return fail(run, error);
    }
    if (isPromiseLike(headers)) {
      return Promise.resolve(headers).then(
        (committed) => this.#proven(committed),
        (error: unknown) => fail(run, error),
      );
    }
    return this.#proven(headers);
  }

  #proven(headers: Record<string, string> | undefined): Record<string, string> {
    const run = this.#run;
    run.nonceHeld = false;
    reportProven(run);
    return headers ?? NO_HEADERS;
  }
}

/** The promise twin of an eager answer. */
function promised<T>(answer: T | Promise<T>): Promise<T> {
  return isPromiseLike(answer) ? answer : Promise.resolve(answer);
}
