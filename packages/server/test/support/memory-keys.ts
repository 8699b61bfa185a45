/**
 * Key services for the key service's own rules (bounds, rotation): a memory store, a fixed test
 * master key and the service principal `alice`, each closed after its test.
 */
import { createKeyService, createMasterKeyRing, type KeyService, type KeyStore, memoryKeyStore } from '@hmac-kit/keys';
import { afterEach } from 'vitest';

/**
 * Registers an `afterEach` that closes what it opened, and returns the opener. Call it in a
 * `describe` body.
 *
 * @example
 * ```ts
 * const service = memoryKeyServices();
 * it('...', async () => {
 *   const keys = await service();
 *   await keys.createKey({ principal: 'alice' });
 * });
 * ```
 */
export function memoryKeyServices(): (store?: KeyStore) => Promise<KeyService> {
  const opened: KeyService[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((keys) => keys.close()));
  });
  return async (store = memoryKeyStore()) => {
    const keys = await createKeyService({
      store,
      masterKeys: createMasterKeyRing([{ id: 'mk-1', key: new Uint8Array(32).fill(7) }]),
    });
    opened.push(keys);
    await keys.createPrincipal({ name: 'alice', kind: 'service' });
    return keys;
  };
}
