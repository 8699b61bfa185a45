/** Browser test page entry: loads the vectors from the test server, runs the shared checks, publishes results. */
import { type CheckResult, runCoreChecks } from '../support/checks.js';
import type { KnownAnswerVector } from '../support/vectors.js';

declare global {
  interface Window {
    hmacKitResults?: CheckResult[] | { error: string };
  }
}

async function main(): Promise<void> {
  try {
    const vectors = (await (await fetch('/vectors/rfc9421.json')).json()) as { vectors: KnownAnswerVector[] };
    const b25Response = await fetch('/shared/rfc9421-b25.txt');
    const b25 = b25Response.ok ? await b25Response.text() : undefined;
    window.hmacKitResults = await runCoreChecks({ b25, vectors: vectors.vectors });
  } catch (error) {
    window.hmacKitResults = { error: String(error) };
  }
}

void main();
