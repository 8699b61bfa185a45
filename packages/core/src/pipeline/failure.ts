/**
 * The one place failures are recorded ({@link fail}), and the debug signature base it attaches to
 * a `signature_invalid` refusal when `debugSignatures` is on (with the body copy that needs).
 */

import { errorEntry } from '../errors.js';
import { concatBytes } from '../primitives/encoding.js';
import { release } from './commit.js';
import type { Run } from './run.js';
import { attachSignatureBase, buildSignatureBaseReport } from './signature-base.js';

/**
 * Records a failure in the one place failures are recorded (the `failed` hook), once per run,
 * releasing a held nonce reservation first, and returns the error to throw.
 */
export async function fail<S>(run: Run<S>, error: unknown): Promise<never> {
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
export function keepChunk<S>(run: Run<S>, chunk: Uint8Array): void {
  if (run.config.debugSignatures !== true || run.verdict?.signatureMatches !== undefined) return;
  run.debugChunks ??= [];
  run.debugChunks.push(chunk.slice());
}
