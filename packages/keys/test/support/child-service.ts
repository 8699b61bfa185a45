/**
 * A second hmac-kit instance in its own process (spawned by the cross-process tests).
 * Opens its own key service on the PostgreSQL schema named in the environment, then
 * answers line commands on stdin with JSON lines on stdout:
 *   resolve <keyId>  -> {"event":"resolved","keyId","found","storeReads"}
 *   watch <keyId>    -> blinds the polled change feed (see feedBlind), resolves every 5 ms;
 *                       {"event":"gone","keyId","at","storeReads"} once it no longer resolves
 */
import { createInterface } from 'node:readline';
import { createKeyService, type KeyStore, parseMasterKeys, postgresKeyStore } from '@hmac-kit/keys';
import pg from 'pg';

const env = process.env;
const pool = new pg.Pool({
  connectionString: env.CHILD_PG_URL,
  options: `-c search_path=${env.CHILD_PG_SCHEMA}`,
  max: 4,
});
pool.on('error', () => undefined);
const inner = postgresKeyStore({ pool, notifyChannel: env.CHILD_CHANNEL! });
let storeReads = 0;
// Once a watch starts, the change feed the service polls answers "nothing new": the revocation can
// then only reach this process's cache through LISTEN/NOTIFY, which is what the parent tests —
// by a condition (the key goes away at all), not by how many milliseconds that took.
let feedBlind = false;
// Counts hot-path reads so the parent can tell cache hits from database lookups.
const store: KeyStore = {
  ...inner,
  resolveKey(keyId) {
    storeReads++;
    return inner.resolveKey(keyId);
  },
  async changesSince(seq, limit) {
    const changes = await inner.changesSince(seq, limit);
    return feedBlind ? [] : changes;
  },
};
const service = await createKeyService({
  store,
  masterKeys: parseMasterKeys(env.HMAC_KIT_MASTER_KEYS!),
  pollIntervalMs: Number(env.CHILD_POLL_MS ?? 60_000),
  maxStalenessMs: 120_000,
  // Entries outlive the test: a cached key can only leave the cache by an invalidation.
  cache: { ttlMs: 600_000 },
});
const say = (message: object) => process.stdout.write(JSON.stringify(message) + '\n');
say({ event: 'ready', pid: process.pid });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, keyId = ''] = line.trim().split(/\s+/);
  if (command === 'resolve') {
    const key = await service.resolver(keyId);
    say({ event: 'resolved', keyId, found: key !== undefined, storeReads });
  } else if (command === 'watch') {
    feedBlind = true;
    void (async () => {
      // Says once when the loop is being served (from the cache), so the parent need not guess.
      let first = true;
      while ((await service.resolver(keyId)) !== undefined) {
        if (first) say({ event: 'watching', keyId, storeReads });
        first = false;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      say({ event: 'gone', keyId, at: Date.now(), storeReads });
    })();
  } else if (command === 'exit') {
    break;
  }
}
await service.close();
await pool.end();
process.exit(0);
