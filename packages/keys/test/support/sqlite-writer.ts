/**
 * One writer process for the SQLite cross-process limit test: opens its own connection to
 * the database file, waits for "go" on stdin, tries to create keys for one principal as
 * fast as it can, and prints what happened as one JSON line.
 */
import { createInterface } from 'node:readline';
import { generateKeyId, KeyLimitExceeded, sqliteKeyStore } from '@hmac-kit/keys';
import Database from 'better-sqlite3';

const [path, principal, attemptsText, limitText] = process.argv.slice(2);
const database = new Database(path!);
const store = sqliteKeyStore({ database });
await store.migrate();
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'go') break;
}
const outcome = { event: 'done', created: 0, limited: 0, other: [] as string[] };
for (let i = 0; i < Number(attemptsText); i++) {
  try {
    await store.insertKey(
      {
        keyId: generateKeyId(),
        principal: principal!,
        algorithm: 'sha256',
        scopes: [],
        label: `pid ${process.pid}`,
        createdAt: Date.now(),
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
        revokedReason: null,
        rateLimit: null,
        rotatedFrom: null,
        masterKeyId: 'mk',
        secretCiphertext: 'not-a-real-ciphertext',
      },
      { maxActiveKeys: Number(limitText), now: Date.now() },
    );
    outcome.created++;
  } catch (error) {
    if (error instanceof KeyLimitExceeded) outcome.limited++;
    else outcome.other.push(String((error as Error)?.message));
  }
}
database.close();
process.stdout.write(`${JSON.stringify(outcome)}\n`);
