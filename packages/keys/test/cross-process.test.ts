/**
 * Cache coherence across processes on PostgreSQL: a second process (its own node, its
 * own pool, its own key service) warms its cache, the test process revokes, and the
 * other process stops accepting the key through LISTEN/NOTIFY alone (its polled feed is blinded).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createKeyService, type KeyService, parseMasterKeys, postgresKeyStore } from '@hmac-kit/keys';
import { expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres, pgUrl } from '../../../test-support/postgres.js';

const childScript = fileURLToPath(new URL('./support/child-service.ts', import.meta.url));

function startChild(env: Record<string, string>) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--conditions=@hmac-kit/source', '--import', 'tsx', childScript],
    { env: { ...process.env, ...env, NODE_OPTIONS: '' }, stdio: 'pipe' },
  );
  const waiting: ((message: Record<string, unknown>) => boolean)[] = [];
  const resolvers: ((message: Record<string, unknown>) => void)[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const index = waiting.findIndex((match) => match(message));
    if (index >= 0) {
      waiting.splice(index, 1);
      resolvers.splice(index, 1)[0]!(message);
    }
  });
  return {
    child,
    next(match: (message: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child did not answer in time; stderr:\n${stderr}`)),
          timeoutMs,
        );
        waiting.push(match);
        resolvers.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
    },
    send(line: string) {
      child.stdin.write(line + '\n');
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin.write('exit\n');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

describeWithPostgres('cross-process revocation (PostgreSQL LISTEN/NOTIFY)', () => {
  it('another process stops accepting a revoked key on the notification, without polling', async () => {
    const schema = await createTestSchema();
    const channel = `hk_${schema.schema}`;
    const masterKeys = `mk-1:${randomBytes(32).toString('base64')}`;
    let service: KeyService | undefined;
    let other: ReturnType<typeof startChild> | undefined;
    try {
      service = await createKeyService({
        store: postgresKeyStore({ pool: schema.pool(), notifyChannel: channel }),
        masterKeys: parseMasterKeys(masterKeys),
      });
      other = startChild({
        CHILD_PG_URL: pgUrl,
        CHILD_PG_SCHEMA: schema.schema,
        CHILD_CHANNEL: channel,
        HMAC_KIT_MASTER_KEYS: masterKeys,
      });
      await service.createPrincipal({ name: 'svc', kind: 'service' });
      const { key } = await service.createKey({ principal: 'svc' });
      const { key: bystander } = await service.createKey({ principal: 'svc' });
      await other.next((m) => m.event === 'ready', 60_000);

      other.send(`resolve ${key.keyId}`);
      expect(await other.next((m) => m.event === 'resolved')).toMatchObject({ found: true, storeReads: 1 });
      other.send(`resolve ${key.keyId}`);
      expect(await other.next((m) => m.event === 'resolved')).toMatchObject({ found: true, storeReads: 1 }); // cache hit
      other.send(`resolve ${bystander.keyId}`);
      expect(await other.next((m) => m.event === 'resolved')).toMatchObject({ found: true, storeReads: 2 });

      const watching = other.next((m) => m.event === 'watching');
      const gone = other.next((m) => m.event === 'gone', 60_000);
      other.send(`watch ${key.keyId}`);
      // The child is now answering from its cache (no new store read).
      expect(await watching).toMatchObject({ storeReads: 2 });
      await service.revokeKey(key.keyId, { reason: 'cross-process test' });
      // The child's polled change feed is blind since `watch` and its cache entries never expire
      // on their own within this test: the key going away at all proves the notification carried
      // it. No elapsed time is measured (`next` times out only to report a hang).
      const message = await gone;
      // Until the notification, the watch loop was served from the cache: one re-read after it.
      expect(message.storeReads).toBe(3);
      // Invalidation is targeted: the other key stays cached and valid.
      other.send(`resolve ${bystander.keyId}`);
      expect(await other.next((m) => m.event === 'resolved' && m.keyId === bystander.keyId)).toMatchObject({
        found: true,
      });
    } finally {
      await other?.stop();
      await service?.close();
      await schema.drop();
    }
  });
});
