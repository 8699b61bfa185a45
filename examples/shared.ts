/**
 * What every example shares: the one API key it accepts, and the `--demo` client that
 * calls the example with a signed request, a tampered one and a replay.
 */

import type { VerificationKey } from '@hmac-kit/core';
import { createSignedFetch, parseSecret } from '@hmac-kit/core';

/**
 * The key the example server accepts. Set HMAC_KIT_KEY_ID and HMAC_KIT_SECRET (`hks_...`, e.g. from
 * `npx hmac-kit keys create`) to call it from your own client; otherwise a random key lives in memory
 * and only `--demo` knows it. The secret is never printed.
 */
export function exampleKey(): VerificationKey {
  const keyId = process.env.HMAC_KIT_KEY_ID ?? 'hk_example';
  const secret = process.env.HMAC_KIT_SECRET
    ? parseSecret(process.env.HMAC_KIT_SECRET)
    : crypto.getRandomValues(new Uint8Array(32));
  return { keyId, secret, algorithm: 'sha256', principal: 'example-client', scopes: ['orders:write'] };
}

/** One line per call: what was sent and what came back. */
export interface DemoResult {
  name: string;
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the example routes
  body: any;
}

/**
 * Calls `POST {baseUrl}/orders` three times: correctly signed, replayed verbatim, and signed
 * afresh but with one body byte changed after signing.
 */
export async function runDemo(baseUrl: string, key: VerificationKey): Promise<DemoResult[]> {
  let sent: Request | undefined;
  let tamperWith: string | undefined;
  const signedFetch = createSignedFetch({
    keyId: key.keyId,
    secret: key.secret,
    // Sees each signed request: keeps a copy to replay, and swaps the body when asked to.
    fetch: async (input, init) => {
      const request = new Request(input, init);
      sent = request.clone();
      if (tamperWith === undefined) return fetch(request);
      return fetch(request.url, { method: request.method, headers: request.headers, body: tamperWith });
    },
  });
  const body = JSON.stringify({ item: 'widget', quantity: 1 });
  const order = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
  const results: DemoResult[] = [];
  const record = async (name: string, response: Response) => {
    const text = await response.text();
    results.push({ name, status: response.status, body: text ? JSON.parse(text) : null });
  };

  await record('signed', await signedFetch(`${baseUrl}/orders`, order));
  const original = sent!;
  await record('replayed', await fetch(original.url, { method: 'POST', headers: original.headers, body }));
  tamperWith = body.replace('"quantity":1', '"quantity":9');
  await record('tampered body', await signedFetch(`${baseUrl}/orders`, order));
  return results;
}

/** Prints the demo's results, one line each. */
export function printDemo(results: readonly DemoResult[]): void {
  for (const { name, status, body } of results) {
    console.log(`${name.padEnd(14)} -> ${status} ${JSON.stringify(body)}`);
  }
}
