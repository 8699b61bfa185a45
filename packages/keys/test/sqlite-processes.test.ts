/**
 * better-sqlite3 is synchronous, so real write concurrency on one SQLite file needs several
 * processes: each writer runs in its own node process with its own connection, they all
 * start at once, and `BEGIN IMMEDIATE` must keep the per-principal limit exact.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sqliteKeyStore } from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

const writerScript = fileURLToPath(new URL('./support/sqlite-writer.ts', import.meta.url));

describe('SQLite: key limit across processes', () => {
  it('several processes creating keys at once never exceed the limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-sqlite-procs-'));
    const path = join(dir, 'keys.db');
    const database = new Database(path);
    try {
      const store = sqliteKeyStore({ database });
      await store.insertPrincipal({
        name: 'svc',
        kind: 'service',
        disabled: false,
        passwordHash: null,
        createdAt: Date.now(),
        disabledAt: null,
      });
      const writers = Array.from({ length: 4 }, () => {
        const child = spawn(
          process.execPath,
          ['--conditions=@hmac-kit/source', '--import', 'tsx', writerScript, path, 'svc', '15', '7'],
          {
            env: { ...process.env, NODE_OPTIONS: '' },
            stdio: 'pipe',
          },
        );
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        const lines = createInterface({ input: child.stdout });
        const messages: Record<string, unknown>[] = [];
        const waiters: (() => void)[] = [];
        lines.on('line', (line) => {
          messages.push(JSON.parse(line) as Record<string, unknown>);
          for (const wake of waiters.splice(0)) wake();
        });
        const next = async (event: string) => {
          const deadline = Date.now() + 60_000;
          for (;;) {
            const found = messages.find((m) => m.event === event);
            if (found) return found;
            if (child.exitCode !== null || Date.now() > deadline) throw new Error(`writer failed: ${stderr}`);
            await new Promise<void>((resolve) => {
              waiters.push(resolve);
              setTimeout(resolve, 100);
            });
          }
        };
        return { child, next };
      });
      await Promise.all(writers.map((w) => w.next('ready')));
      for (const w of writers) w.child.stdin.write('go\n');
      const outcomes = (await Promise.all(writers.map((w) => w.next('done')))) as {
        created: number;
        limited: number;
        other: string[];
      }[];
      expect(outcomes.flatMap((o) => o.other)).toEqual([]);
      expect(outcomes.reduce((sum, o) => sum + o.created, 0)).toBe(7);
      expect(outcomes.reduce((sum, o) => sum + o.limited, 0)).toBe(4 * 15 - 7);
      expect(await store.listKeys({ principal: 'svc' })).toHaveLength(7);
      expect((database.pragma('journal_mode') as { journal_mode: string }[])[0]?.journal_mode).toBe('wal');
    } finally {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
