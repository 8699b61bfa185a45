// Public API of @hmac-kit/keys. Named exports only, listed explicitly.
export {
  checkKeySettings,
  checkPrincipalName,
  checkRevokeReason,
  MAX_KEY_LIFETIME_SECONDS,
  MAX_RATE_LIMIT_REQUESTS,
} from './admin-rules.js';
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
export type {
  ApiKey,
  IssuedKey,
  KeyAlgorithm,
  KeyFilter,
  KeyOrder,
  KeyQuery,
  KeyRateLimit,
  KeyStatus,
  KeyUsage,
  KeyUsageQuery,
  Page,
  Principal,
  PrincipalKind,
  PrincipalQuery,
} from './model.js';
export type { ScryptParams } from './password.js';
export { checkPassword, DEFAULT_SCRYPT_PARAMS, hashPassword, verifyPasswordHash } from './password.js';
export type { AuditEntry, AuditEvent, AuditEventType, AuditQuery, AuditStore } from './ports/audit.js';
export { AUDIT_EVENT_TYPES } from './ports/audit.js';
export type { KeyChange, KeyChangeFeed } from './ports/change-feed.js';
export type { KeyStore } from './ports/key-store.js';
export type { InsertKeyOptions, KeyListQuery, KeyPosition, KeyRow, KeyRowStore, ResolvedKeyRow } from './ports/keys.js';
export type { MigrationSummary, StoreLifecycle } from './ports/lifecycle.js';
export type { MasterKeyStore, ReencryptCandidate } from './ports/master-keys.js';
export type { PrincipalListQuery, PrincipalRow, PrincipalStore } from './ports/principals.js';
export type { KeyUsageDelta, KeyUsageListQuery, KeyUsageRow, KeyUsageStore } from './ports/usage.js';
export type { MasterKeyRotationProgress, RotateMasterKeyOptions } from './rotate-master.js';
export { rotateMasterKey } from './rotate-master.js';
export type { SeedKeysOptions } from './seed.js';
export { seedKeys } from './seed.js';
export { createKeyService } from './service.js';
export type {
  CreateKeyInput,
  CreatePrincipalInput,
  ImportKeyInput,
  InvalidationBus,
  KeyCacheStats,
  KeyService,
  KeyServiceOptions,
  RotateKeyOptions,
} from './service-contract.js';
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
export const PACKAGE_NAME = '@hmac-kit/keys';
