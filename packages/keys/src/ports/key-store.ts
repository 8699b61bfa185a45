/**
 * The persistence contract, as narrow ports: each part of the key service (and each tool, such as
 * `rotateMasterKey`) asks only for the port it uses, and a backend is the sum of the ports it
 * implements. Small on purpose: business rules live in the key service. Every method may throw
 * `StoreUnavailable` (from @hmac-kit/core) when the backend cannot be reached.
 *
 * A store never sees a plaintext secret: it stores ciphertext produced by the service.
 */
import type { AuditStore } from './audit.js';
import type { KeyChangeFeed } from './change-feed.js';
import type { KeyRowStore } from './keys.js';
import type { StoreLifecycle } from './lifecycle.js';
import type { MasterKeyStore } from './master-keys.js';
import type { PrincipalStore } from './principals.js';
import type { KeyUsageStore } from './usage.js';

/**
 * A complete backend: every port. Implementations: {@link memoryKeyStore}, {@link sqliteKeyStore},
 * {@link postgresKeyStore}.
 */
export interface KeyStore
  extends StoreLifecycle,
    PrincipalStore,
    KeyRowStore,
    KeyUsageStore,
    MasterKeyStore,
    AuditStore,
    KeyChangeFeed {}
