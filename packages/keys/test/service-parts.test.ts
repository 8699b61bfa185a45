// The key service's parts, each on its own against a recording store port: the audit writer (group
// commit, bounded backlog), the last-used batcher and the scheme-usage batcher. The service's own
// tests (service-cache, idle, stores) show them working together.

import type { AuditEvent, KeyUsageDelta } from '@hmac-kit/keys';
import { describe, expect, it, vi } from 'vitest';
import { createAuditWriter } from '../src/audit-writer.js';
import { createLastUsedBatcher } from '../src/last-used.js';
import { createUsageBatcher } from '../src/usage-batcher.js';

const KEY_A = 'hk_AAAAAAAAAAAAAAAAAAAAAA';
const KEY_B = 'hk_BBBBBBBBBBBBBBBBBBBBBB';
const failure = (keyId: string): AuditEvent => ({
  type: 'auth.failed',
  at: new Date(0),
  keyId,
  code: 'ERR_BAD_SIGNATURE',
});

describe('audit writer', () => {
  it('writes concurrent failures in one INSERT and resolves each once written', async () => {
    const batches: AuditEvent[][] = [];
    const writer = createAuditWriter(
      { appendAudit: async (events) => void batches.push([...events]) },
      { clock: () => 0 },
    );
    await Promise.all([writer.writeBatched(failure(KEY_A)), writer.writeBatched(failure(KEY_B))]);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.map((event) => event.keyId)).toEqual([KEY_A, KEY_B]);
    await writer.write(failure(KEY_A));
    expect(batches).toHaveLength(2);
  });

  it('counts what the backlog cannot hold and writes the count once, then rejects the batch the store refuses', async () => {
    const batches: AuditEvent[][] = [];
    let fail = false;
    const writer = createAuditWriter(
      {
        appendAudit: async (events) => {
          if (fail) throw new Error('store down');
          batches.push([...events]);
        },
      },
      { clock: () => 42_000, batchSize: 2, backlog: 3 },
    );
    const writes = [1, 2, 3, 4, 5].map(() => writer.writeBatched(failure(KEY_A)));
    await Promise.all(writes);
    await writer.drained();
    const all = batches.flat();
    expect(all.filter((event) => event.code === 'ERR_BAD_SIGNATURE')).toHaveLength(3);
    expect(all.filter((event) => event.code === 'ERR_AUDIT_BACKLOG_FULL')).toEqual([
      { type: 'auth.failed', at: new Date(42_000), code: 'ERR_AUDIT_BACKLOG_FULL', detail: { dropped: 2 } },
    ]);
    expect(batches.every((batch) => batch.filter((event) => event.code === 'ERR_BAD_SIGNATURE').length <= 2)).toBe(
      true,
    );
    fail = true;
    await expect(writer.writeBatched(failure(KEY_B))).rejects.toThrow('store down');
  });
});

describe('last-used batcher', () => {
  it('queues a key at most once per interval and writes all queued keys in one call', async () => {
    const calls: { keyIds: readonly string[]; at: number }[] = [];
    let now = 1_000;
    const batcher = createLastUsedBatcher(
      { touchKeys: async (keyIds, at) => void calls.push({ keyIds, at }) },
      {
        clock: () => now,
        intervalMs: 60_000,
      },
    );
    batcher.markUsed(KEY_A, now);
    batcher.markUsed(KEY_A, now + 10);
    batcher.markUsed(KEY_B, now);
    expect(batcher.pending).toBe(2);
    now = 2_000;
    await batcher.flush();
    expect(calls).toEqual([{ keyIds: [KEY_A, KEY_B], at: 2_000 }]);
    batcher.markUsed(KEY_A, 30_000); // within the interval of the last queued time
    await batcher.flush();
    expect(calls).toHaveLength(1);
    batcher.markUsed(KEY_A, 1_000 + 60_000);
    await batcher.flush();
    expect(calls.at(-1)?.keyIds).toEqual([KEY_A]);
  });

  it('does not write again within the interval of the last use the store holds (another instance’s)', async () => {
    const calls: (readonly string[])[] = [];
    const batcher = createLastUsedBatcher(
      { touchKeys: async (keyIds) => void calls.push(keyIds) },
      { clock: () => 0, intervalMs: 60_000 },
    );
    batcher.known(KEY_A, 50_000);
    batcher.known(KEY_A, 10_000); // an older read never moves it back
    batcher.known(KEY_B, null); // never used: its first proven use is due at once
    batcher.markUsed(KEY_A, 100_000);
    batcher.markUsed(KEY_B, 100_000);
    await batcher.flush();
    expect(calls).toEqual([[KEY_B]]);
    batcher.markUsed(KEY_A, 110_000);
    await batcher.flush();
    expect(calls.at(-1)).toEqual([KEY_A]);
  });

  it('is best effort: a store failure loses the times instead of piling them up', async () => {
    const batcher = createLastUsedBatcher(
      { touchKeys: () => Promise.reject(new Error('down')) },
      {
        clock: () => 0,
        intervalMs: 0,
      },
    );
    batcher.markUsed(KEY_A, 0);
    await expect(batcher.flush()).resolves.toBeUndefined();
    expect(batcher.pending).toBe(0);
  });
});

describe('scheme-usage batcher', () => {
  it('adds up uses per (key, scheme), writes a pair at most once per interval, and all of it when asked', async () => {
    const written: KeyUsageDelta[][] = [];
    let now = 0;
    const onUse = vi.fn();
    const usage = createUsageBatcher(
      { addKeyUsage: async (deltas) => void written.push(deltas.map((d) => ({ ...d }))) },
      {
        clock: () => now,
        intervalMs: 1_000,
        onUse,
      },
    );
    usage.record(KEY_A, 'rfc9421');
    now = 5;
    usage.record(KEY_A, 'rfc9421');
    usage.record(KEY_A, 'sigv4');
    expect(onUse).toHaveBeenCalledTimes(3);
    await usage.flush();
    expect(written).toEqual([
      [
        { keyId: KEY_A, scheme: 'rfc9421', count: 2, firstUsedAt: 0, lastUsedAt: 5 },
        { keyId: KEY_A, scheme: 'sigv4', count: 1, firstUsedAt: 5, lastUsedAt: 5 },
      ],
    ]);
    now = 500;
    usage.record(KEY_A, 'rfc9421');
    await usage.flush(); // written at 5: not due before 1005
    expect(written).toHaveLength(1);
    await usage.flush(true);
    expect(written.at(-1)).toEqual([{ keyId: KEY_A, scheme: 'rfc9421', count: 1, firstUsedAt: 500, lastUsedAt: 500 }]);
  });

  it('refuses a malformed scheme, ignores implausible key ids, and counts nothing once stopped', async () => {
    const addKeyUsage = vi.fn(async () => undefined);
    const usage = createUsageBatcher({ addKeyUsage }, { clock: () => 0, intervalMs: 1_000, onUse: () => undefined });
    expect(() => usage.record(KEY_A, 'has space')).toThrow(TypeError);
    expect(() => usage.record(KEY_A, '')).toThrow(TypeError);
    usage.record(`hks_${'A'.repeat(43)}`, 'rfc9421'); // a secret pasted as a key id is never recorded
    usage.stop();
    usage.record(KEY_A, 'rfc9421');
    await usage.flush(true);
    expect(addKeyUsage).not.toHaveBeenCalled();
  });

  it('while the service sleeps, writes what is pending once an interval has passed', async () => {
    const addKeyUsage = vi.fn(async () => undefined);
    const usage = createUsageBatcher({ addKeyUsage }, { clock: () => 0, intervalMs: 20, onUse: () => undefined });
    usage.record(KEY_A, 'rfc9421');
    usage.sleep();
    await vi.waitFor(() => expect(addKeyUsage).toHaveBeenCalledTimes(1));
    usage.stop();
  });
});
