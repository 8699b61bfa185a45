import { signMessage } from '@hmac-kit/core';
import { runCliInProcess, runningServeCount } from './processes.js';

/** A key as `keys create --json` prints it. */
export interface IssuedKey {
  keyId: string;
  secret: string;
  principal: string;
  scopes: string[];
}

/**
 * How long after a key is written every running `hmac-kit serve` knows it: a server answers
 * unknown ids from memory and reads the change feed first when the feed is older than its
 * freshness bound (the key service's `feedFreshnessMs`, 250 ms); the margin covers a feed read
 * already in flight when the key was written. A server started after the write loads the index of
 * stored key ids as it starts, so it knows the key at once.
 */
const KEY_KNOWN_TO_SERVERS_MS = 250 + 250;

/**
 * Creates a principal (if needed) and a key through the CLI's commands (run in-process: this is
 * setup), and returns once running servers know the key: at once when no `hmac-kit serve` started by
 * `startServe` is running in this worker (a server started later reads every stored key id as it
 * starts), else after {@link KEY_KNOWN_TO_SERVERS_MS}, the product's bound (a server offers no probe
 * for whether it knows a key id: unknown ids answer exactly as wrong signatures, and a probe would
 * count as a failure). Tests call it with a server running and use the key at once. A test that
 * runs a server some other way (in this process, or a spawned `serve`) waits for the key itself.
 */
export async function createKeyWithCli(
  db: string,
  principal: string,
  extra: string[] = [],
  env: Record<string, string | undefined> = {},
): Promise<IssuedKey> {
  const added = await runCliInProcess(['--db', db, 'principals', 'add', principal], { env });
  // An existing principal is fine (several keys for one); any other failure is the test's problem, said here.
  if (added.code !== 0 && !/already exists/.test(added.stderr)) {
    throw new Error(`principals add failed: ${added.stderr}`);
  }
  const result = await runCliInProcess(['--db', db, '--json', 'keys', 'create', '--principal', principal, ...extra], {
    env,
  });
  if (result.code !== 0) throw new Error(`keys create failed: ${result.stderr}`);
  if (runningServeCount() > 0) await new Promise((resolve) => setTimeout(resolve, KEY_KNOWN_TO_SERVERS_MS));
  return JSON.parse(result.stdout) as IssuedKey;
}

/**
 * Provisions `db` the way the legacy-migration contract says (issue #12): `principals add`, then
 * `keys import --secret-stdin --encoding text` for each key (in-process). Throws with the CLI's stderr on any failure.
 *
 * @example
 * await importKeysWithCli(db, 'legacy', [{ keyId: 'partner', secret: 'their-shared-secret' }]);
 */
export async function importKeysWithCli(
  db: string,
  principal: string,
  keys: ReadonlyArray<{ keyId: string; secret: string }>,
): Promise<void> {
  const added = await runCliInProcess(['principals', 'add', principal, '--db', db]);
  if (added.code !== 0) throw new Error(`principals add failed: ${added.stderr}`);
  for (const { keyId, secret } of keys) {
    const imported = await runCliInProcess(
      [
        'keys',
        'import',
        '--principal',
        principal,
        '--key-id',
        keyId,
        '--secret-stdin',
        '--encoding',
        'text',
        '--db',
        db,
      ],
      { input: secret },
    );
    if (imported.code !== 0) throw new Error(`keys import failed: ${imported.stderr}`);
  }
}

/** Signs a request with the core's signer and returns what to pass to `fetch`. */
export async function signed(
  key: { keyId: string; secret: string },
  method: string,
  url: string,
  options: {
    body?: string;
    headers?: Record<string, string>;
    now?: () => number;
    nonce?: string | false;
    expiresInSeconds?: number;
  } = {},
): Promise<{ url: string; init: RequestInit & { headers: Record<string, string> } }> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const result = await signMessage(
    { method, url, headers, body: options.body ?? null },
    { keyId: key.keyId, secret: key.secret },
    {
      ...(options.now ? { now: options.now } : {}),
      ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
      ...(options.expiresInSeconds !== undefined ? { expiresInSeconds: options.expiresInSeconds } : {}),
    },
  );
  return {
    url: result.url,
    init: { method, headers: { ...headers, ...result.headers }, body: options.body },
  };
}

/** Sends a prepared signed request; returns status, headers and parsed JSON (or text). */
export async function send(
  request: { url: string; init: RequestInit & { headers: Record<string, string> } },
  extraHeaders: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> & { code?: string } }> {
  const response = await fetch(request.url, {
    ...request.init,
    headers: { ...request.init.headers, ...extraHeaders },
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

/**
 * A distinct client address per test (sent as X-Forwarded-For, believed from loopback,
 * the default trusted proxy), so one test's deliberate failures never throttle another's.
 */
export function freshAddress(): string {
  const byte = () => Math.floor(Math.random() * 254) + 1;
  return `10.${byte()}.${byte()}.${byte()}`;
}
