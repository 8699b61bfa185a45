/**
 * The header stages as an {@link Admission}, for callers that stream the body or never see it (the
 * server's streaming gateway, forward-auth, the middleware's streamed bodies).
 */

import type { MessageParts, VerifiedRequest } from '../types.js';
import { bodyCheckOf, completeBody } from './body.js';
import { commitStage, reportProven } from './commit.js';
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
        return await concludeAdmission(run, headers);
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
        return await concludeAdmission(run, headers);
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

/**
 * The end of `finish()`/`complete()` once the body check passed: commit (unless
 * `commitBeforeBody()` already did, with `committedHeaders`), end the nonce hold, report the
 * request proven. One place, so the two ways of ending a request cannot drift apart.
 */
async function concludeAdmission<S>(
  run: Run<S>,
  committedHeaders: Record<string, string> | undefined,
): Promise<Record<string, string>> {
  const headers = run.committed ? committedHeaders : await commitStage(run);
  run.nonceHeld = false;
  reportProven(run);
  return headers ?? NO_HEADERS;
}
