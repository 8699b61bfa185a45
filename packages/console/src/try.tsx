/**
 * Try a request: signs in the page with the core's RFC 9421 signer (WebCrypto), sends it, and
 * shows the signature base and the answer. The secret typed here stays in the page: only the
 * signature leaves it.
 */
import { signatureBase, signMessage } from '@hmac-kit/core';
import { useState } from 'preact/hooks';
import { describeError } from './api.ts';
import { Message } from './ui.tsx';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** `<prefix>` of `<prefix>/console/`: where the server's own routes live. */
function adminPrefix(): string {
  return window.location.pathname.replace(/\/console\/?.*$/, '');
}

interface Outcome {
  base: string;
  sent: Record<string, string>;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: string;
}

export function TryPage(props: { mode: 'api' | 'gateway' | undefined }) {
  const defaultUrl =
    props.mode === 'gateway' ? `${window.location.origin}/` : `${window.location.origin}${adminPrefix()}/v1/whoami`;
  const [method, setMethod] = useState('GET');
  const [url, setUrl] = useState(defaultUrl);
  const [keyId, setKeyId] = useState('');
  const [secret, setSecret] = useState('');
  const [algorithm, setAlgorithm] = useState<'sha256' | 'sha384' | 'sha512'>('sha256');
  const [body, setBody] = useState('');
  const [outcome, setOutcome] = useState<Outcome>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const send = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setOutcome(undefined);
    try {
      const target = new URL(url, window.location.href);
      if (target.origin !== window.location.origin) {
        throw new Error(`the page can only send to ${window.location.origin} (its Content-Security-Policy)`);
      }
      const hasBody = method !== 'GET' && method !== 'DELETE' && body !== '';
      const headers: Record<string, string> = hasBody ? { 'content-type': 'application/json' } : {};
      const signed = await signMessage(
        { method, url: target.href, headers, body: hasBody ? body : null },
        { keyId: keyId.trim(), secret: secret.trim(), algorithm },
        hasBody ? { coveredHeaders: ['content-type'] } : {},
      );
      const sent: Record<string, string> = { ...headers };
      for (const [name, value] of Object.entries(signed.headers)) sent[name.toLowerCase()] = value;
      const base = signatureBase({ method, url: signed.url, headers: sent }, sent['signature-input'] ?? '');
      const response = await fetch(signed.url, {
        method,
        headers: sent,
        body: hasBody ? body : undefined,
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'manual',
      });
      setOutcome({
        base,
        sent,
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers],
        body: await response.text(),
      });
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="try-title">
      <h1 id="try-title" tabIndex={-1}>
        Try a request
      </h1>
      <p class="note">
        Signs a request in this page (RFC 9421, HMAC with WebCrypto) for the key id and secret you type, sends it to
        this server, and shows the signature base and the answer. The secret never leaves the page.
      </p>
      <form onSubmit={send} class="grid-form panel">
        <div class="field">
          <label for="try-method">Method</label>
          <select id="try-method" value={method} onChange={(event) => setMethod(event.currentTarget.value)}>
            {METHODS.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </div>
        <div class="field wide">
          <label for="try-url">URL</label>
          <input
            id="try-url"
            class="mono"
            type="url"
            required
            value={url}
            onInput={(event) => setUrl(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="try-key-id">Key id</label>
          <input
            id="try-key-id"
            class="mono"
            required
            autoComplete="off"
            value={keyId}
            onInput={(event) => setKeyId(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="try-secret">Secret</label>
          <input
            id="try-secret"
            class="mono"
            type="password"
            required
            autoComplete="off"
            value={secret}
            onInput={(event) => setSecret(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="try-algorithm">Key algorithm</label>
          <select
            id="try-algorithm"
            value={algorithm}
            onChange={(event) => setAlgorithm(event.currentTarget.value as 'sha256' | 'sha384' | 'sha512')}
          >
            <option value="sha256">HMAC-SHA256</option>
            <option value="sha384">HMAC-SHA384</option>
            <option value="sha512">HMAC-SHA512</option>
          </select>
        </div>
        <div class="field wide">
          <label for="try-body">Body (JSON, for POST, PUT, PATCH)</label>
          <textarea
            id="try-body"
            class="mono"
            rows={4}
            value={body}
            onInput={(event) => setBody(event.currentTarget.value)}
          />
        </div>
        <div class="actions wide">
          <button type="submit" class="primary" disabled={busy}>
            Sign and send
          </button>
        </div>
      </form>
      <Message error={error} />
      {outcome ? (
        <section aria-labelledby="try-result-title" class="panel" aria-live="polite">
          <h2 id="try-result-title">
            Answer: <span data-testid="try-status">{outcome.status}</span> {outcome.statusText}
          </h2>
          <h3>Signature base</h3>
          <pre class="mono" data-testid="try-base">
            {outcome.base}
          </pre>
          <h3>Signed headers sent</h3>
          <pre class="mono">
            {Object.entries(outcome.sent)
              .map(([name, value]) => `${name}: ${value}`)
              .join('\n')}
          </pre>
          <h3>Response</h3>
          <pre class="mono">
            {outcome.headers.map(([name, value]) => `${name}: ${value}`).join('\n')}
            {'\n\n'}
            <span data-testid="try-body-out">{outcome.body}</span>
          </pre>
        </section>
      ) : null}
    </section>
  );
}
