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
 * A failure at any stage is reported once, to the `failed` hook, by `fail` (failure.ts) — the one
 * place failures are recorded. A caller that must pass a request on before its body is known (a
 * streaming gateway) commits early with `Admission.commitBeforeBody` (admission.ts): the nonce is
 * then a reservation, released again if the body fails, and the commit hook is told the body is
 * pending (it charges the rate limit only); the `bodyProven` hook clears the failures once the
 * body passed.
 *
 * This module composes the stages into the entry points that take a body (whole, deferred or
 * streamed). The stages live beside it, one concern each:
 *
 * - config.ts: the config and hooks, the claim, the stage names, scheme validation;
 * - run.ts: one request's state (`Run`), handed from stage to stage;
 * - header-stages.ts: parse → gate → key + MAC → policy, shared by every entry point;
 * - key-mac.ts: the key the scheme MACs with (or the decoy), the verdict, the verified request;
 * - body.ts: the body check as the pipeline feeds it, size limits, reading streamed bodies;
 * - commit.ts: nonce recording, the commit hook, the reservation release, the `proven` report;
 * - failure.ts: `fail`, and the debug signature base it attaches;
 * - admission.ts: the header stages as an `Admission`, for callers that stream the body.
 */

import { BodyTooLarge } from '../errors.js';
import { isPromiseLike } from '../primitives/promise.js';
import { messageHasBody } from '../protocol/message-body.js';
import type { BodyInput, MessageParts } from '../types.js';
import { asBytes, bodyCheckOf, chunksOf, completeBody, declaredSizeCheck } from './body.js';
import { commitStage, reportProven } from './commit.js';
import { type Accepted, type PipelineConfig, schemesOf } from './config.js';
import type { Scheme } from './contract.js';
import { fail, keepChunk } from './failure.js';
import { headerStages } from './header-stages.js';
import { resolvePolicy } from './policy.js';
import { newRun, type Run } from './run.js';

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
export function runPipelineDeferred<S>(
  config: PipelineConfig<S>,
  message: MessageParts,
  read: () => Promise<Uint8Array>,
  source: S,
): Promise<Accepted> {
  let run: Run<S>;
  let schemes: readonly Scheme[];
  let maxBodyBytes: number;
  try {
    schemes = schemesOf(config as PipelineConfig<unknown>);
    maxBodyBytes = resolvePolicy(config.policy, false).maxBodyBytes;
    run = newRun(config, schemes, message, messageHasBody(message), source);
  } catch (error) {
    return Promise.reject(error);
  }
  // Not an async function: the read is the one promise a request needs when every stage answers
  // synchronously. Every failure after the run started goes through fail(), as before.
  const onFailure = (error: unknown): Promise<never> => fail(run, error);
  const withBody = (received: Uint8Array): Accepted | Promise<Accepted> => {
    try {
      const bytes = asBytes(received);
      if (config.debugSignatures === true) run.debugBody = bytes;
      if (bytes.length > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
      if (bytes.length > 0 && !run.hasBody) {
        run = newRun(config, schemes, message, true, source);
        if (config.debugSignatures === true) run.debugBody = bytes;
        const again = headerStages(run);
        if (again !== undefined) {
          return Promise.resolve(again)
            .then(() => bufferedRest(run, bytes))
            .then(undefined, onFailure);
        }
      }
      const rest = bufferedRest(run, bytes);
      return isPromiseLike(rest) ? Promise.resolve(rest).then(undefined, onFailure) : rest;
    } catch (error) {
      return onFailure(error);
    }
  };
  const readBody = (): Promise<Accepted> => {
    run.stage = 'body';
    let pending: Promise<Uint8Array>;
    try {
      pending = read();
    } catch (error) {
      return onFailure(error);
    }
    return Promise.resolve(pending).then(withBody, onFailure);
  };
  try {
    if (maxBodyBytes !== Number.POSITIVE_INFINITY) declaredSizeCheck(message, maxBodyBytes);
    const header = headerStages(run);
    if (header !== undefined) return Promise.resolve(header).then(readBody, onFailure);
    return readBody();
  } catch (error) {
    return onFailure(error);
  }
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
