/**
 * Master keys encrypt API key secrets at rest (AES-256-GCM). A ring holds several:
 * the newest (last) encrypts, any decrypts, so a new master key can be introduced
 * and secrets re-encrypted (`rotateMasterKey`) without downtime.
 *
 * Key bytes are kept in a module-private WeakMap: they never show up in
 * `JSON.stringify`, `console.log`, `util.inspect` or error messages.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { MasterKeyMismatch, MasterKeyUnknown } from './errors.js';

const MASTER_KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A master key ring. Holds no enumerable key material. */
export interface MasterKeyRing {
  /** Ids, oldest first; the last one encrypts. */
  readonly ids: readonly string[];
  /** Id of the newest key (the one that encrypts). */
  readonly currentId: string;
  has(id: string): boolean;
}

const keyMaterial = new WeakMap<MasterKeyRing, Map<string, Buffer>>();

class Ring implements MasterKeyRing {
  readonly ids: readonly string[];
  readonly currentId: string;
  constructor(ids: string[]) {
    this.ids = Object.freeze(ids);
    this.currentId = ids[ids.length - 1]!;
  }
  has(id: string): boolean {
    return this.ids.includes(id);
  }
  toJSON(): unknown {
    return { ids: this.ids, currentId: this.currentId };
  }
  toString(): string {
    return `MasterKeyRing(${this.ids.join(',')})`;
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

function bytesOf(ring: MasterKeyRing, id: string): Buffer {
  const key = keyMaterial.get(ring)?.get(id);
  if (!key) {
    if (!keyMaterial.has(ring)) throw new TypeError('masterKeys must come from createMasterKeyRing() or a loader');
    throw new MasterKeyUnknown(`master key "${id}" is not in the configured key ring`, id);
  }
  return key;
}

/**
 * Builds a ring from raw 32-byte keys, oldest first (the last one encrypts).
 *
 * @example
 * ```ts
 * const ring = createMasterKeyRing([{ id: '2026-01', key: randomBytes(32) }]);
 * ```
 */
export function createMasterKeyRing(keys: readonly { id: string; key: Uint8Array }[]): MasterKeyRing {
  if (!Array.isArray(keys) || keys.length === 0) throw new TypeError('a master key ring needs at least one key');
  const material = new Map<string, Buffer>();
  for (const entry of keys) {
    if (typeof entry?.id !== 'string' || !MASTER_KEY_ID.test(entry.id)) {
      throw new TypeError('master key ids are 1-64 characters of [A-Za-z0-9._-]');
    }
    if (!(entry.key instanceof Uint8Array) || entry.key.length !== 32) {
      throw new TypeError(`master key "${entry.id}" must be exactly 32 bytes`);
    }
    if (material.has(entry.id)) throw new TypeError(`master key id "${entry.id}" appears twice`);
    material.set(entry.id, Buffer.from(entry.key));
  }
  const ring = new Ring([...material.keys()]);
  keyMaterial.set(ring, material);
  return ring;
}

function decodeKey(id: string, text: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new TypeError(`master key "${id}" is not base64`);
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length !== 32) throw new TypeError(`master key "${id}" must decode to exactly 32 bytes`);
  return bytes;
}

/**
 * Parses the `HMAC_KIT_MASTER_KEYS` format: `id1:base64key,id2:base64key`, oldest first
 * (the last one encrypts). Errors name the offending id, never the key.
 *
 * @example
 * ```ts
 * const ring = parseMasterKeys(process.env.HMAC_KIT_MASTER_KEYS!);
 * ```
 */
export function parseMasterKeys(text: string): MasterKeyRing {
  if (typeof text !== 'string' || text.trim() === '') throw new TypeError('master keys: empty value');
  const keys = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part, index) => {
      const colon = part.indexOf(':');
      if (colon <= 0) throw new TypeError(`master keys: entry ${index + 1} is not "id:base64key"`);
      const id = part.slice(0, colon);
      return { id, key: decodeKey(id, part.slice(colon + 1)) };
    });
  return createMasterKeyRing(keys);
}

/** The JSON master key file: `{ "version": 1, "keys": [{ "id", "key" (base64), "createdAt" }] }`, oldest first. */
export interface MasterKeyFile {
  version: 1;
  keys: { id: string; key: string; createdAt?: string }[];
}

function parseKeyFile(text: string, path: string): MasterKeyRing {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TypeError(`master key file ${path} is not valid JSON`);
  }
  const keys = (parsed as Partial<MasterKeyFile> | null)?.keys;
  if (!Array.isArray(keys)) throw new TypeError(`master key file ${path} has no "keys" array`);
  return createMasterKeyRing(
    keys.map((entry, index) => {
      const id = typeof entry?.id === 'string' ? entry.id : `#${index + 1}`;
      if (typeof entry?.key !== 'string') throw new TypeError(`master key file ${path}: key "${id}" has no "key"`);
      return { id, key: decodeKey(id, entry.key) };
    }),
  );
}

/**
 * Reads a JSON master key file.
 *
 * @example
 * ```ts
 * const ring = await readMasterKeyFile('/etc/hmac-kit/master-keys.json');
 * ```
 */
export async function readMasterKeyFile(path: string): Promise<MasterKeyRing> {
  return parseKeyFile(await readFile(path, 'utf8'), path);
}

/**
 * A fresh master key id: UTC timestamp plus a random suffix.
 *
 * @example
 * ```ts
 * newMasterKeyId(); // 'mk-20260122T180501Z-3f9a'
 * ```
 */
export function newMasterKeyId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `mk-${stamp}-${randomBytes(2).toString('hex')}`;
}

async function writeKeyFileAtomically(path: string, file: MasterKeyFile, exclusive: boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const body = JSON.stringify(file, null, 2) + '\n';
  if (exclusive) {
    // O_EXCL: two processes starting at once cannot both create (and one overwrite) the file.
    const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return;
  }
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, body, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/**
 * The embedded default: reads the key file at `path`, or creates it (mode 0600, one new
 * key) when it does not exist. `created` tells the caller to announce where it is (and
 * that it must be backed up: without it the stored secrets are unrecoverable).
 *
 * @example
 * ```ts
 * const { ring, created } = await loadOrCreateMasterKeyFile(defaultMasterKeyFilePath('./hmac-kit.db'));
 * if (created) console.error('created master key file ...');
 * ```
 */
export async function loadOrCreateMasterKeyFile(path: string): Promise<{ ring: MasterKeyRing; created: boolean }> {
  try {
    return { ring: await readMasterKeyFile(path), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code !== 'ENOENT') throw error;
  }
  const file: MasterKeyFile = {
    version: 1,
    keys: [{ id: newMasterKeyId(), key: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() }],
  };
  try {
    await writeKeyFileAtomically(path, file, true);
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'EEXIST')
      return { ring: await readMasterKeyFile(path), created: false };
    throw error;
  }
  return { ring: await readMasterKeyFile(path), created: true };
}

/**
 * Appends a new (newest, so encrypting) key to a key file, creating the file if needed.
 * Run `rotateMasterKey` afterwards to re-encrypt existing secrets, then old keys may be
 * removed from the file once no secret uses them.
 *
 * @example
 * ```ts
 * const { ring, id } = await addMasterKeyToFile('./hmac-kit.db.master-keys.json');
 * await rotateMasterKey(store, ring);
 * ```
 */
export async function addMasterKeyToFile(
  path: string,
  id: string = newMasterKeyId(),
): Promise<{ ring: MasterKeyRing; id: string }> {
  let file: MasterKeyFile = { version: 1, keys: [] };
  try {
    const text = await readFile(path, 'utf8');
    parseKeyFile(text, path);
    file = JSON.parse(text) as MasterKeyFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code !== 'ENOENT') throw error;
  }
  if (!MASTER_KEY_ID.test(id)) throw new TypeError('master key ids are 1-64 characters of [A-Za-z0-9._-]');
  if (file.keys.some((entry) => entry.id === id)) throw new TypeError(`master key id "${id}" already exists`);
  file.keys.push({ id, key: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() });
  await writeKeyFileAtomically(path, file, false);
  return { ring: await readMasterKeyFile(path), id };
}

/**
 * Where the embedded default keeps the key file: beside the SQLite database.
 *
 * @example
 * ```ts
 * defaultMasterKeyFilePath('/var/lib/hmac-kit/keys.db'); // '/var/lib/hmac-kit/keys.db.master-keys.json'
 * ```
 */
export function defaultMasterKeyFilePath(databasePath: string): string {
  return `${databasePath}.master-keys.json`;
}

/**
 * Resolves the ring the way the CLI and server do: `HMAC_KIT_MASTER_KEYS` (env) first,
 * then an explicit key file, then (when `createIfMissing` is given) the embedded default
 * file, created on first use.
 *
 * @example
 * ```ts
 * const { ring, source, created, path } = await loadMasterKeys({
 *   env: process.env.HMAC_KIT_MASTER_KEYS,
 *   file: process.env.HMAC_KIT_MASTER_KEY_FILE,
 *   createIfMissing: defaultMasterKeyFilePath('./hmac-kit.db'),
 * });
 * ```
 */
export async function loadMasterKeys(options: {
  env?: string | undefined;
  file?: string | undefined;
  createIfMissing?: string | undefined;
}): Promise<{ ring: MasterKeyRing; source: 'env' | 'file' | 'created'; path?: string; created: boolean }> {
  if (options.env !== undefined && options.env.trim() !== '') {
    return { ring: parseMasterKeys(options.env), source: 'env', created: false };
  }
  if (options.file)
    return { ring: await readMasterKeyFile(options.file), source: 'file', path: options.file, created: false };
  if (options.createIfMissing) {
    const { ring, created } = await loadOrCreateMasterKeyFile(options.createIfMissing);
    return { ring, source: created ? 'created' : 'file', path: options.createIfMissing, created };
  }
  throw new TypeError('no master keys configured: set HMAC_KIT_MASTER_KEYS or a master key file');
}

function associatedData(purpose: string, masterKeyId: string, subject: string): Buffer {
  // NUL separators: ids cannot contain NUL, so no two (purpose, master, subject) triples collide.
  return Buffer.from(`hmac-kit/v1\0${purpose}\0${masterKeyId}\0${subject}`, 'utf8');
}

function seal(ring: MasterKeyRing, masterKeyId: string, aad: Buffer, plaintext: Uint8Array): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', bytesOf(ring, masterKeyId), iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

function unseal(ring: MasterKeyRing, masterKeyId: string, aad: Buffer, sealed: string, what: string): Uint8Array {
  const key = bytesOf(ring, masterKeyId);
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) {
    throw new MasterKeyMismatch(`${what} cannot be decrypted with master key "${masterKeyId}"`, masterKeyId);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const out = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch {
    // GCM authentication failed: wrong key bytes for this id, or a ciphertext moved from another row.
    throw new MasterKeyMismatch(
      `${what} cannot be decrypted with master key "${masterKeyId}": wrong master key, or the data was tampered with`,
      masterKeyId,
    );
  }
}

/**
 * Encrypts a key secret under the ring's newest master key, bound to `keyId`.
 *
 * @example
 * ```ts
 * const { masterKeyId, ciphertext } = encryptSecret(ring, 'hk_...', secretBytes);
 * ```
 */
export function encryptSecret(
  ring: MasterKeyRing,
  keyId: string,
  secret: Uint8Array,
): { masterKeyId: string; ciphertext: string } {
  const masterKeyId = ring.currentId;
  return { masterKeyId, ciphertext: seal(ring, masterKeyId, associatedData('key-secret', masterKeyId, keyId), secret) };
}

/**
 * Decrypts a key secret. Throws `MasterKeyUnknown` when `masterKeyId` is not in the ring and
 * `MasterKeyMismatch` when authentication fails (wrong key, or the row was swapped): never garbage.
 *
 * @example
 * ```ts
 * const secret = decryptSecret(ring, row.keyId, row.masterKeyId, row.secretCiphertext);
 * ```
 */
export function decryptSecret(ring: MasterKeyRing, keyId: string, masterKeyId: string, ciphertext: string): Uint8Array {
  return unseal(
    ring,
    masterKeyId,
    associatedData('key-secret', masterKeyId, keyId),
    ciphertext,
    `secret of key ${keyId}`,
  );
}

const CHECK_PLAINTEXT = Buffer.from('hmac-kit master key check', 'utf8');

/** A verification record for a master key (stored so a wrong key is caught at startup, not at first use). */
export function masterKeyCheck(ring: MasterKeyRing, masterKeyId: string): string {
  return seal(ring, masterKeyId, associatedData('check', masterKeyId, ''), CHECK_PLAINTEXT);
}

/** Throws `MasterKeyMismatch` when `check` was made with different bytes for `masterKeyId`. */
export function verifyMasterKeyCheck(ring: MasterKeyRing, masterKeyId: string, check: string): void {
  const plain = unseal(
    ring,
    masterKeyId,
    associatedData('check', masterKeyId, ''),
    check,
    'the master key check record',
  );
  if (!CHECK_PLAINTEXT.equals(plain)) {
    throw new MasterKeyMismatch(
      `master key "${masterKeyId}" does not match the one this database was set up with`,
      masterKeyId,
    );
  }
}
