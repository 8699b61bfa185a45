/**
 * The browser example: signs requests with the core's `createSignedFetch` (WebCrypto) and shows
 * the response. Bundled by build.mjs; `window.hmacKitExample.send` is what the page's form calls
 * (and what the headless-browser test drives directly).
 */
import { createSignedFetch } from '@hmac-kit/core';

export interface ExampleRequest {
  keyId: string;
  secret: string;
  method: string;
  url: string;
  body?: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
}

export interface ExampleResponse {
  status: number;
  body: string;
}

/** Sends one signed request and returns the status and body text. */
export async function send(request: ExampleRequest): Promise<ExampleResponse> {
  const signedFetch = createSignedFetch({ keyId: request.keyId, secret: request.secret });
  const hasBody = request.body !== undefined && !(typeof request.body === 'string' && request.body === '');
  const response = await signedFetch(new URL(request.url, location.href).href, {
    method: request.method,
    headers: request.headers,
    body: hasBody || ['POST', 'PUT', 'PATCH'].includes(request.method) ? (request.body ?? '') : undefined,
  });
  return { status: response.status, body: await response.text() };
}

declare global {
  interface Window {
    hmacKitExample: { send: typeof send };
  }
}
window.hmacKitExample = { send };

const form = document.querySelector<HTMLFormElement>('#request-form');
const result = document.querySelector<HTMLPreElement>('#result');
form?.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!result) return;
  const data = new FormData(form);
  const field = (name: string) => String(data.get(name) ?? '');
  result.className = '';
  result.textContent = 'sending…';
  send({
    keyId: field('keyId'),
    secret: field('secret'),
    method: field('method'),
    url: field('url'),
    body: field('body'),
  })
    .then(({ status, body }) => {
      result.className = status < 400 ? 'ok' : 'fail';
      result.textContent = `HTTP ${status}\n\n${body}`;
    })
    .catch((error: unknown) => {
      result.className = 'fail';
      result.textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
    });
});
