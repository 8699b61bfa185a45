import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  addMasterKeyToFile,
  createKeyService,
  createMasterKeyRing,
  decryptSecret,
  defaultMasterKeyFilePath,
  encryptSecret,
  loadMasterKeys,
  loadOrCreateMasterKeyFile,
  MasterKeyMismatch,
  MasterKeyUnknown,
  memoryKeyStore,
  parseMasterKeys,
  readMasterKeyFile,
} from '@hmac-kit/keys';
import { afterEach, describe, expect, it } from 'vitest';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-mk-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('master key ring', () => {
  it('parses the env format (newest last) and never shows key bytes', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const ring = parseMasterKeys(`old:${k1.toString('base64')}, new:${k2.toString('base64url')}`);
    expect(ring.ids).toEqual(['old', 'new']);
    expect(ring.currentId).toBe('new');
    const shown = [JSON.stringify(ring), String(ring), inspect(ring, { showHidden: true, depth: 5 })].join('\n');
    for (const key of [k1, k2]) {
      expect(shown).not.toContain(key.toString('base64'));
      expect(shown).not.toContain(key.toString('base64url'));
      expect(shown).not.toContain(key.toString('hex'));
    }
  });

  it('rejects malformed values with TypeError that does not echo the key', () => {
    const short = randomBytes(16).toString('base64');
    for (const bad of [
      '',
      'nocolon',
      `id:${short}`,
      'id:!!!!',
      `a:${randomBytes(32).toString('base64')},a:${randomBytes(32).toString('base64')}`,
    ]) {
      const error = (() => {
        try {
          parseMasterKeys(bad);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error).toBeInstanceOf(TypeError);
      expect(error!.message).not.toContain(short);
    }
    expect(() => createMasterKeyRing([])).toThrow(TypeError);
    expect(() => createMasterKeyRing([{ id: 'bad id', key: randomBytes(32) }])).toThrow(TypeError);
  });

  it('encrypts with the newest key, decrypts with any, binds ciphertexts to the key id', () => {
    const k1 = randomBytes(32);
    const secret = randomBytes(32);
    const before = createMasterKeyRing([{ id: 'a', key: k1 }]);
    const sealed = encryptSecret(before, 'hk_one', secret);
    expect(sealed.masterKeyId).toBe('a');
    expect(Buffer.from(sealed.ciphertext, 'base64url').includes(secret)).toBe(false);
    const after = createMasterKeyRing([
      { id: 'a', key: k1 },
      { id: 'b', key: randomBytes(32) },
    ]);
    expect(encryptSecret(after, 'hk_one', secret).masterKeyId).toBe('b');
    expect(Buffer.from(decryptSecret(after, 'hk_one', 'a', sealed.ciphertext)).equals(secret)).toBe(true);
    // Moved to another row, or claimed to be under another master key id: authentication fails.
    expect(() => decryptSecret(after, 'hk_two', 'a', sealed.ciphertext)).toThrow(MasterKeyMismatch);
    expect(() => decryptSecret(after, 'hk_one', 'b', sealed.ciphertext)).toThrow(MasterKeyMismatch);
    expect(() => decryptSecret(after, 'hk_one', 'zzz', sealed.ciphertext)).toThrow(MasterKeyUnknown);
    const wrong = createMasterKeyRing([{ id: 'a', key: randomBytes(32) }]);
    const error = (() => {
      try {
        decryptSecret(wrong, 'hk_one', 'a', sealed.ciphertext);
      } catch (e) {
        return e as MasterKeyMismatch;
      }
    })();
    expect(error).toMatchObject({ code: 'ERR_MASTER_KEY_MISMATCH', masterKeyId: 'a' });
    expect(error!.message).not.toContain(k1.toString('base64'));
  });
});

describe('master key files', () => {
  it('creates the embedded default file with 0600 permissions, once', async () => {
    const path = defaultMasterKeyFilePath(join(tempDir(), 'hmac-kit.db'));
    const first = await loadOrCreateMasterKeyFile(path);
    expect(first.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const second = await loadOrCreateMasterKeyFile(path);
    expect(second.created).toBe(false);
    expect(second.ring.ids).toEqual(first.ring.ids);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { version: number; keys: { id: string; key: string }[] };
    expect(file.version).toBe(1);
    expect(Buffer.from(file.keys[0]!.key, 'base64')).toHaveLength(32);
    // Same key bytes: what one encrypts the other decrypts.
    const sealed = encryptSecret(first.ring, 'hk_x', randomBytes(32));
    expect(() => decryptSecret(second.ring, 'hk_x', sealed.masterKeyId, sealed.ciphertext)).not.toThrow();
  });

  it('concurrent callers racing to create the file end up with one key (O_EXCL)', async () => {
    const path = join(tempDir(), 'race.json');
    const results = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateMasterKeyFile(path)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.ring.currentId)).size).toBe(1);
  });

  it('adds a newest key to a file and resolves sources env > file > created', async () => {
    const dir = tempDir();
    const path = join(dir, 'keys.json');
    const { ring: created } = await loadOrCreateMasterKeyFile(path);
    const { ring, id } = await addMasterKeyToFile(path, 'second');
    expect(id).toBe('second');
    expect(ring.ids).toEqual([created.currentId, 'second']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await readMasterKeyFile(path)).currentId).toBe('second');
    const env = `e1:${randomBytes(32).toString('base64')}`;
    expect((await loadMasterKeys({ env, file: path })).source).toBe('env');
    expect((await loadMasterKeys({ file: path })).source).toBe('file');
    const fresh = await loadMasterKeys({ createIfMissing: join(dir, 'new.json') });
    expect(fresh).toMatchObject({ source: 'created', created: true });
    await expect(loadMasterKeys({})).rejects.toBeInstanceOf(TypeError);
    await expect(readMasterKeyFile(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a swapped ciphertext in the store is refused, not decrypted to garbage', async () => {
    const store = memoryKeyStore();
    const ring = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);
    const service = await createKeyService({ store, masterKeys: ring });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const a = await service.createKey({ principal: 'svc' });
    const b = await service.createKey({ principal: 'svc' });
    const rowA = (await store.getKey(a.key.keyId))!;
    const rowB = (await store.getKey(b.key.keyId))!;
    // An attacker with write access to the table copies A's ciphertext into B's row.
    expect(
      await store.replaceSecretCiphertext(
        b.key.keyId,
        { keyId: b.key.keyId, masterKeyId: rowB.masterKeyId, secretCiphertext: rowB.secretCiphertext },
        {
          masterKeyId: rowA.masterKeyId,
          secretCiphertext: rowA.secretCiphertext,
        },
      ),
    ).toBe(true);
    await expect(service.resolver(b.key.keyId)).rejects.toBeInstanceOf(MasterKeyMismatch);
    expect(await service.resolver(a.key.keyId)).toBeDefined();
    await service.close();
  });
});
