import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signWebhook, verifyWebhook } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../test-support/cli-client.js';
import {
  buildOnce,
  cleanEnv,
  repoRoot,
  runCli,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';
import { type SeenRequest, startUpstream } from '../../../test-support/upstream.js';
import { until } from '../../../test-support/wait.js';

/** The bash sender printed in docs/server.md, run as it is written. */
const bashSender = /### Sending a test delivery with bash[\s\S]*?```bash\n([\s\S]*?)```/.exec(
  readFileSync(join(repoRoot, 'docs/server.md'), 'utf8'),
)?.[1];
const missingTools = ['bash', 'openssl', 'curl', 'od'].filter((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`]);
    return false;
  } catch {
    return true;
  }
});
if (missingTools.length > 0) {
  if (process.env.CI === 'true')
    throw new Error(`missing tools for the bash webhook sender: ${missingTools.join(', ')}`);
  console.warn(`[e2e-webhooks] bash sender test SKIPPED: missing ${missingTools.join(', ')}`);
}

/** A key as `keys create --json --webhook` prints it. */
interface WebhookKey {
  keyId: string;
  secret: string;
  webhookSecret: string;
  algorithm: string;
}

async function createWebhookKey(db: string, principal: string): Promise<WebhookKey> {
  await runCliInProcess(['--db', db, 'principals', 'add', principal]);
  const result = await runCliInProcess(['--db', db, '--json', 'keys', 'create', '--principal', principal, '--webhook']);
  if (result.code !== 0) throw new Error(`keys create failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as WebhookKey;
}

const unixNow = () => Math.floor(Date.now() / 1000);
const messageId = () => `msg_${randomBytes(12).toString('hex')}`;

/** A delivery as a Standard Webhooks sender makes it, signed with the core's `signWebhook`. */
async function delivery(
  secret: string,
  body: string,
  options: { keyId?: string; timestamp?: number; id?: string; prefix?: 'webhook-' | 'svix-' } = {},
): Promise<Record<string, string>> {
  const prefix = options.prefix ?? 'webhook-';
  const id = options.id ?? messageId();
  const timestamp = options.timestamp ?? unixNow();
  const signature = await signWebhook({ id, timestamp, body }, secret);
  return {
    'content-type': 'application/json',
    [`${prefix}id`]: id,
    [`${prefix}timestamp`]: String(timestamp),
    [`${prefix}signature`]: signature,
    ...(options.keyId ? { 'webhook-key-id': options.keyId } : {}),
    'x-forwarded-for': freshAddress(),
  };
}

async function post(url: string, headers: Record<string, string>, body: string) {
  const response = await fetch(url, { method: 'POST', headers, body });
  const text = await response.text();
  let parsed: Record<string, unknown> & { code?: string } = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

// The real `hmac-kit serve` process receiving Standard Webhooks deliveries with keys issued by the real CLI.
describe('hmac-kit serve receiving Standard Webhooks', () => {
  let dir: string;
  let db: string;
  let api: ServeProcess;
  let key: WebhookKey;
  // Refused deliveries count against their key id (failure throttle): they get a key of their own.
  let target: WebhookKey;
  const body = JSON.stringify({ type: 'invoice.paid', data: { id: 'in_1', amount: 4200 } });

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createWebhookKey(db, 'billing-provider');
    target = await createWebhookKey(db, 'probed-provider');
    api = await startServe(['--db', db, '--schemes', 'rfc9421,standard-webhooks'], { cwd: dir });
  });

  afterAll(async () => {
    await api?.stop();
  });

  it('keys create --webhook prints a whsec_ secret that verifyWebhook accepts and that is the same raw key', async () => {
    expect(key.algorithm).toBe('sha256');
    expect(key.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const id = messageId();
    const timestamp = unixNow();
    const signature = await signWebhook({ id, timestamp, body }, key.webhookSecret);
    await expect(
      verifyWebhook({ id, timestamp, signatureHeader: signature, body }, key.webhookSecret),
    ).resolves.toEqual({ id, timestamp });
    // Signing with the hks_ form gives the same signature: one raw secret, two spellings.
    expect(await signWebhook({ id, timestamp, body }, key.secret)).toBe(signature);
  });

  it('keys create without --webhook has no webhookSecret; human output shows it with --webhook', async () => {
    await runCliInProcess(['--db', db, 'principals', 'add', 'plain']);
    const plain = await runCliInProcess(['--db', db, '--json', 'keys', 'create', '--principal', 'plain']);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout)).not.toHaveProperty('webhookSecret');
    const human = await runCliInProcess(['--db', db, 'keys', 'create', '--principal', 'plain', '--webhook']);
    expect(human.code).toBe(0);
    const secret = /secret:\s+(hks_\S+)/.exec(human.stdout)?.[1];
    const whsec = /webhook:\s+(whsec_\S+)/.exec(human.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(whsec).toBeDefined();
    const id = messageId();
    const timestamp = unixNow();
    const signature = await signWebhook({ id, timestamp, body }, secret as string);
    await expect(
      verifyWebhook({ id, timestamp, signatureHeader: signature, body }, whsec as string),
    ).resolves.toMatchObject({ id });
  });

  it('keys create --webhook refuses a non-sha256 key with one line, exit 2', async () => {
    const result = await runCliInProcess([
      '--db',
      db,
      'keys',
      'create',
      '--principal',
      'plain',
      '--algorithm',
      'sha512',
      '--webhook',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--webhook needs a sha256 key');
  });

  it('keys rotate --webhook refuses a non-sha256 key before rotating it', async () => {
    await runCliInProcess(['--db', db, 'principals', 'add', 'wide-hash']);
    const created = await runCliInProcess([
      '--db',
      db,
      '--json',
      'keys',
      'create',
      '--principal',
      'wide-hash',
      '--algorithm',
      'sha384',
    ]);
    const { keyId } = JSON.parse(created.stdout) as { keyId: string };
    const result = await runCliInProcess(['--db', db, 'keys', 'rotate', keyId, '--webhook']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'hmac-kit: --webhook needs a sha256 key: Standard Webhooks signs with HMAC-SHA256',
    );
    const listed = await runCliInProcess(['--db', db, '--json', 'keys', 'list', '--principal', 'wide-hash']);
    expect(JSON.parse(listed.stdout) as Array<{ keyId: string; expiresAt: string | null }>).toEqual([
      expect.objectContaining({ keyId, expiresAt: null }),
    ]);
  });

  it('keys rotate --webhook prints the new key as whsec_, which the server then accepts', async () => {
    const old = await createWebhookKey(db, 'rotating-sender');
    const rotated = await runCliInProcess(['--db', db, '--json', 'keys', 'rotate', old.keyId, '--webhook']);
    expect(rotated.code).toBe(0);
    const fresh = JSON.parse(rotated.stdout) as WebhookKey & { previous: { keyId: string } };
    expect(fresh.previous.keyId).toBe(old.keyId);
    expect(fresh.webhookSecret).toMatch(/^whsec_/);
    expect(fresh.webhookSecret).not.toBe(old.webhookSecret);
    // A key written by another process (the CLI) reaches the server's key index within feedFreshnessMs
    // (docs/keys.md, 250 ms): until then it is answered like any unknown id. Each try is a new delivery.
    let result = await post(
      `${api.url}/v1/whoami`,
      await delivery(fresh.webhookSecret, body, { keyId: fresh.keyId }),
      body,
    );
    await until(async () => {
      if (result.status !== 401) return true;
      expect(result.body.code).toBe('signature_invalid');
      result = await post(
        `${api.url}/v1/whoami`,
        await delivery(fresh.webhookSecret, body, { keyId: fresh.keyId }),
        body,
      );
      return false;
    });
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ keyId: fresh.keyId, principal: 'rotating-sender' });
  });

  it('passes /v1/whoami for a delivery signed with the whsec_ secret (key id from webhook-key-id)', async () => {
    const result = await post(
      `${api.url}/v1/whoami`,
      await delivery(key.webhookSecret, body, { keyId: key.keyId }),
      body,
    );
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      principal: 'billing-provider',
      keyId: key.keyId,
      scopes: [],
      scheme: 'standard-webhooks',
    });
  });

  it('accepts Svix header names (svix-id, svix-timestamp, svix-signature)', async () => {
    const result = await post(
      `${api.url}/v1/whoami`,
      await delivery(key.webhookSecret, body, { keyId: key.keyId, prefix: 'svix-' }),
      body,
    );
    expect(result.status).toBe(200);
    expect(result.body.scheme).toBe('standard-webhooks');
  });

  it('refuses a tampered body', async () => {
    const headers = await delivery(target.webhookSecret, body, { keyId: target.keyId });
    const result = await post(`${api.url}/v1/whoami`, headers, body.replace('4200', '1'));
    expect(result.status).toBe(401);
    expect(result.headers.get('content-type')).toBe('application/problem+json');
    expect(result.body.code).toBe('signature_invalid');
  });

  it('refuses a stale timestamp (older than 5 minutes)', async () => {
    const headers = await delivery(target.webhookSecret, body, { keyId: target.keyId, timestamp: unixNow() - 301 - 5 });
    const result = await post(`${api.url}/v1/whoami`, headers, body);
    expect(result.status).toBe(401);
    expect(result.body.code).toBe('signature_expired');
  });

  it('refuses a timestamp more than 5 minutes ahead', async () => {
    const headers = await delivery(target.webhookSecret, body, { keyId: target.keyId, timestamp: unixNow() + 400 });
    const result = await post(`${api.url}/v1/whoami`, headers, body);
    expect(result.status).toBe(401);
    expect(result.body.code).toBe('signature_from_future');
  });

  it('refuses a delivery signed with another secret', async () => {
    const wrong = `whsec_${randomBytes(32).toString('base64')}`;
    const result = await post(`${api.url}/v1/whoami`, await delivery(wrong, body, { keyId: target.keyId }), body);
    expect(result.status).toBe(401);
    expect(result.body.code).toBe('signature_invalid');
  });

  it('refuses a replay (same webhook-id and timestamp) but accepts a retry with a new timestamp', async () => {
    const id = messageId();
    const timestamp = unixNow();
    const headers = await delivery(key.webhookSecret, body, { keyId: key.keyId, id, timestamp });
    expect((await post(`${api.url}/v1/whoami`, headers, body)).status).toBe(200);
    const replay = await post(`${api.url}/v1/whoami`, headers, body);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('nonce_replayed');
    // Senders retry later with the same webhook-id, a new timestamp and a new signature. Later, not
    // earlier: a timestamp before the server started (its nonce store's epoch) is refused as expired.
    const retry = await delivery(key.webhookSecret, body, { keyId: key.keyId, id, timestamp: timestamp + 1 });
    expect((await post(`${api.url}/v1/whoami`, retry, body)).status).toBe(200);
  });

  it('refuses a delivery without webhook-key-id when no fixed key is configured', async () => {
    const result = await post(`${api.url}/v1/whoami`, await delivery(key.webhookSecret, body), body);
    expect(result.status).toBe(400);
    expect(result.body.code).toBe('signature_malformed');
  });

  it('refuses a webhook-key-id naming an unknown key like a wrong signature', async () => {
    const result = await post(
      `${api.url}/v1/whoami`,
      await delivery(key.webhookSecret, body, { keyId: 'hk_0000000000000000000000' }),
      body,
    );
    expect(result.status).toBe(401);
    expect(result.body.code).toBe('signature_invalid');
  });
});

describe('hmac-kit serve --upstream with --webhook-key-id (gateway for a webhook receiver)', () => {
  let dir: string;
  let db: string;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let gateway: ServeProcess;
  let key: WebhookKey;
  let other: WebhookKey;
  const body = JSON.stringify({ type: 'order.shipped', data: { id: 'ord_7' } });

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createWebhookKey(db, 'shop-webhooks');
    other = await createWebhookKey(db, 'someone-else');
    upstream = await startUpstream();
    gateway = await startServe(['--db', db, '--upstream', `${upstream.url}/hooks`], {
      cwd: dir,
      env: { HMAC_KIT_SCHEMES: 'standard-webhooks', HMAC_KIT_WEBHOOK_KEY_ID: key.keyId },
    });
  });

  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
  });

  const lastSeen = (path: string): SeenRequest | undefined =>
    upstream.seen.filter((entry) => entry.url === path).at(-1);

  it('forwards a verified delivery: body intact, identity headers added, signature header stripped', async () => {
    const headers = await delivery(key.webhookSecret, body);
    const result = await post(`${gateway.url}/incoming`, headers, body);
    expect(result.status).toBe(201);
    const seen = lastSeen('/hooks/incoming');
    expect(seen?.body.toString('utf8')).toBe(body);
    expect(seen?.headers['x-authenticated-key-id']).toBe(key.keyId);
    expect(seen?.headers['x-authenticated-principal']).toBe('shop-webhooks');
    expect(seen?.headers['x-authenticated-scheme']).toBe('standard-webhooks');
    expect(seen?.headers['webhook-signature']).toBeUndefined();
    // Kept so the receiver can deduplicate retries.
    expect(seen?.headers['webhook-id']).toBe(headers['webhook-id']);
  });

  it.skipIf(missingTools.length > 0)('forwards a delivery from the bash sender in docs/server.md', async () => {
    expect(bashSender).toBeDefined();
    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', bashSender as string], {
      env: cleanEnv({ WEBHOOK_SECRET: key.webhookSecret, WEBHOOK_URL: `${gateway.url}/from-bash` }),
    });
    expect(JSON.parse(stdout)).toMatchObject({ method: 'POST', url: '/hooks/from-bash' });
    const seen = lastSeen('/hooks/from-bash');
    expect(seen?.complete).toBe(true);
    expect(JSON.parse(seen?.body.toString('utf8') ?? '')).toMatchObject({ type: 'invoice.paid' });
    expect(seen?.headers['x-authenticated-key-id']).toBe(key.keyId);
    expect(seen?.headers['x-authenticated-scheme']).toBe('standard-webhooks');
  });

  it('uses the configured key even when a delivery names another one in webhook-key-id', async () => {
    const signedByOther = await delivery(other.webhookSecret, body, { keyId: other.keyId });
    const refused = await post(`${gateway.url}/incoming`, signedByOther, body);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('signature_invalid');
  });

  it('refuses a replayed delivery (same webhook-id and timestamp) without forwarding it again', async () => {
    const replayed = await delivery(key.webhookSecret, body);
    expect((await post(`${gateway.url}/incoming`, replayed, body)).status).toBe(201);
    const seenAfterFirst = upstream.seen.length;
    const again = await post(`${gateway.url}/incoming`, replayed, body);
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('nonce_replayed');
    expect(upstream.seen.length).toBe(seenAfterFirst);
  });

  it('refuses tampered, stale and wrongly signed deliveries; none reaches the upstream complete and accepted', async () => {
    const before = upstream.seen.length;
    const tampered = await post(`${gateway.url}/incoming`, await delivery(key.webhookSecret, body), `${body} `);
    const stale = await post(
      `${gateway.url}/incoming`,
      await delivery(key.webhookSecret, body, { timestamp: unixNow() - 360 }),
      body,
    );
    const wrong = await post(
      `${gateway.url}/incoming`,
      await delivery(`whsec_${randomBytes(32).toString('base64')}`, body),
      body,
    );
    expect(tampered.status).toBe(401);
    expect(tampered.body.code).toBe('signature_invalid');
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe('signature_expired');
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('signature_invalid');
    // Stale and wrongly signed deliveries are refused at the headers; the tampered body is streamed
    // and the upstream request aborted when the signature check at its end fails.
    expect(upstream.seen.slice(before).filter((entry) => entry.complete)).toEqual([]);
  });
});

describe('hmac-kit serve webhook configuration errors', () => {
  beforeAll(() => buildOnce());

  async function serveFails(args: string[], env: Record<string, string> = {}) {
    const dir = tempDir();
    return runCli(['--db', join(dir, 'hmac-kit.db'), 'serve', '--port', '0', ...args], { cwd: dir, env });
  }

  it('refuses a malformed webhook key id with one line, without echoing a pasted secret', async () => {
    const pasted = `whsec_${randomBytes(24).toString('base64')}`;
    const result = await serveFails(['--schemes', 'standard-webhooks', '--webhook-key-id', pasted]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('invalid webhook key id');
    expect(result.stderr).not.toContain(pasted);
  });

  it('refuses a webhook key id when standard-webhooks is not enabled', async () => {
    const result = await serveFails([], { HMAC_KIT_WEBHOOK_KEY_ID: 'hk_0000000000000000000000' });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'hmac-kit: config: webhook key id is set but standard-webhooks is not among the enabled schemes',
    );
  });
});
