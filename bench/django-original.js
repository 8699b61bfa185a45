// The original system of benchmark 3's django-hmac row, when it runs beside the benchmark:
// django_hmac_authentication under gunicorn, named by four environment variables (docs/performance.md,
// "The original django system side by side"). Neither its code nor a script that builds it is in
// this repository; these helpers only read where it is and check that it accepts the benchmark's client.
import { formatSecret } from '@hmac-kit/core';
import { djangoSigner } from './http-requests.js';
import { typical } from './support.js';

const NAMES = ['URL', 'PID', 'KEY_ID', 'SECRET'].map((part) => `HMAC_KIT_BENCH_DJANGO_${part}`);

/**
 * The original system's server from `env` (`{ url, pid, tree, keyId, secret }`, the secret in
 * hmac-kit's printable form for bench/http-requests.js's django signer), `undefined` when none of the
 * four variables is set. Throws a TypeError naming the variable when one is missing or malformed.
 *
 * @example
 * ```js
 * djangoOriginalFrom({}); // undefined: no original row
 * djangoOriginalFrom({ HMAC_KIT_BENCH_DJANGO_URL: 'http://127.0.0.1:8765', HMAC_KIT_BENCH_DJANGO_PID: '4242',
 *   HMAC_KIT_BENCH_DJANGO_KEY_ID: 'f1c2...', HMAC_KIT_BENCH_DJANGO_SECRET: 'V2FI...=' });
 * // { url: 'http://127.0.0.1:8765', pid: 4242, tree: true, keyId: 'f1c2...', secret: 'hks_...' }
 * ```
 */
export function djangoOriginalFrom(env) {
  const given = NAMES.filter((name) => env[name]);
  if (given.length === 0) return undefined;
  if (given.length < NAMES.length) {
    throw new TypeError(
      `${given.join(', ')} set without ${NAMES.filter((name) => !given.includes(name)).join(', ')}: ` +
        'the original django row needs all four (docs/performance.md, "The original django system side by side")',
    );
  }
  const [url, pidText, keyId, secretText] = NAMES.map((name) => env[name]);
  const origin = URL.canParse(url) ? new URL(url) : undefined;
  if (origin === undefined || origin.protocol !== 'http:' || origin.origin === 'null') {
    throw new TypeError('HMAC_KIT_BENCH_DJANGO_URL: expected an http:// origin such as http://127.0.0.1:8765');
  }
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new TypeError('HMAC_KIT_BENCH_DJANGO_PID: expected the gunicorn master process id');
  }
  // As create_hmac_for_user prints it: standard base64 of the raw key bytes (32 of them).
  const raw = Buffer.from(secretText, 'base64');
  if (raw.length < 32 || raw.toString('base64') !== secretText) {
    // Not echoed: it is a secret.
    throw new TypeError('HMAC_KIT_BENCH_DJANGO_SECRET: expected the base64 secret create_hmac_for_user printed');
  }
  return { url: origin.origin, pid, tree: true, keyId, secret: formatSecret(new Uint8Array(raw)) };
}

/**
 * Resolves with `original` once its process exists and one request signed by the benchmark's own
 * django signer was accepted (2xx): a row of refusals would measure the refusal path. Rejects with an
 * error naming what failed otherwise.
 *
 * @example
 * ```js
 * const server = await checkedDjangoOriginal(djangoOriginalFrom(process.env));
 * ```
 */
export async function checkedDjangoOriginal(original) {
  try {
    process.kill(original.pid, 0);
  } catch {
    throw new Error(`HMAC_KIT_BENCH_DJANGO_PID=${original.pid}: no such process (expected the gunicorn master's pid)`);
  }
  const sign = djangoSigner(original);
  const response = await fetch(`${original.url}${typical.path}?${typical.query}`, {
    method: typical.method,
    headers: sign(),
    body: typical.bodyText,
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `the original django system at ${original.url} refused a signed request: ${response.status} ${text.slice(0, 200)}`,
    );
  }
  return original;
}
