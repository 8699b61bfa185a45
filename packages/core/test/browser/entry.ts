/** Browser test page entry: loads the vectors from the test server, runs the shared checks, publishes results. */
import { createSignedFetch } from '../../src/index.js';
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
    const b25Response = await fetch('/vectors/rfc9421-b25.txt');
    if (!b25Response.ok) throw new Error(`RFC 9421 B.2.5 vector: HTTP ${b25Response.status}`);
    const b25 = await b25Response.text();
    const results = await runCoreChecks({ b25, vectors: vectors.vectors });
    results.push(await liveFetchCheck());
    window.hmacKitResults = results;
  } catch (error) {
    window.hmacKitResults = { error: String(error) };
  }
}

void main();

/**
 * The browser's own fetch, signed by createSignedFetch, against the Node test server, which verifies
 * with verifyMessage over the raw IncomingMessage: what a browser really sends must verify.
 */
async function liveFetchCheck(): Promise<CheckResult> {
  const name = 'createSignedFetch with the browser fetch is verified by a Node server';
  try {
    const config = (await (await fetch('/api/key')).json()) as { keyId: string; secret: string };
    const signedFetch = createSignedFetch({
      keyId: config.keyId,
      secret: config.secret,
      coveredHeaders: ['content-type'],
    });
    const outcomes: string[] = [];
    const get = await signedFetch('/api/items?limit=5&q=caf%C3%A9&tag=a&tag=b');
    outcomes.push(`GET ${get.status}`);
    const post = await signedFetch('/api/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Zoë', city: '東京', n: 'x'.repeat(100_000) }),
    });
    outcomes.push(`POST ${post.status}`);
    const empty = await signedFetch('/api/jobs/1/cancel', { method: 'POST' });
    outcomes.push(`empty POST ${empty.status}`);
    const ok = outcomes.every((o) => o.endsWith(' 200'));
    return ok ? { name, ok } : { name, ok, detail: outcomes.join(', ') + ` ${await post.text()}` };
  } catch (error) {
    return { name, ok: false, detail: String(error) };
  }
}
