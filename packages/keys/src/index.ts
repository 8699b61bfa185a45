// Public API of @hmac-kit/keys. Named exports only, listed explicitly.
export {
  KeyExists,
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  MasterKeyMismatch,
  MasterKeyUnknown,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
} from './errors.js';
export {
  formatSecret,
  generateKeyId,
  hasKeyIdShape,
  isKeyId,
  isPlausibleKeyId,
  keyIdLogFields,
  looksLikeSecret,
  parseSecret,
  SECRET_BYTES,
} from './ids.js';
export { verifyMasterKeyRing } from './master-key-check.js';
export type { MasterKeyFile, MasterKeyRing } from './master-keys.js';
export {
  addMasterKeyToFile,
  createMasterKeyRing,
  decryptSecret,
  defaultMasterKeyFilePath,
  encryptSecret,
  loadMasterKeys,
  loadOrCreateMasterKeyFile,
  newMasterKeyId,
  parseMasterKeys,
  readMasterKeyFile,
} from './master-keys.js';
export { memoryKeyStore } from './memory-store.js';
export type { ScryptParams } from './password.js';
export { DEFAULT_SCRYPT_PARAMS, hashPassword, verifyPasswordHash } from './password.js';
export type { MasterKeyRotationProgress, RotateMasterKeyOptions } from './rotate-master.js';
export { rotateMasterKey } from './rotate-master.js';
export type { SeedKeysOptions } from './seed.js';
export { seedKeys } from './seed.js';
export { createKeyService } from './service.js';
export type {
  PgListenClient,
  PgPoolClientLike,
  PgPoolLike,
  PgQueryResultLike,
  SqliteDatabaseLike,
  SqliteStatementLike,
} from './sql/drivers.js';
export { type PostgresKeyStoreOptions, postgresKeyStore } from './sql/postgres.js';
export { type SqliteKeyStoreOptions, sqliteKeyStore } from './sql/sqlite.js';
export type {
  ApiKey,
  AuditEntry,
  AuditEvent,
  AuditEventType,
  AuditQuery,
  AuditStore,
  CreateKeyInput,
  CreatePrincipalInput,
  ImportKeyInput,
  InsertKeyOptions,
  InvalidationBus,
  IssuedKey,
  KeyAlgorithm,
  KeyCacheStats,
  KeyChange,
  KeyChangeFeed,
  KeyFilter,
  KeyListQuery,
  KeyOrder,
  KeyPosition,
  KeyQuery,
  KeyRateLimit,
  KeyRow,
  KeyRowStore,
  KeyService,
  KeyServiceOptions,
  KeyStatus,
  KeyStore,
  KeyUsage,
  KeyUsageDelta,
  KeyUsageListQuery,
  KeyUsageQuery,
  KeyUsageRow,
  KeyUsageStore,
  MasterKeyStore,
  MigrationSummary,
  Page,
  Principal,
  PrincipalKind,
  PrincipalListQuery,
  PrincipalQuery,
  PrincipalRow,
  PrincipalStore,
  ReencryptCandidate,
  ResolvedKeyRow,
  RotateKeyOptions,
  StoreLifecycle,
} from './types.js';
export { AUDIT_EVENT_TYPES } from './types.js';
export const PACKAGE_NAME = '@hmac-kit/keys';
