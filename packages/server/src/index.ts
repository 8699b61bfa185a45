// Public API of @hmac-kit/server. Named exports only, listed explicitly.
export { type RunningServer, type ShutdownOutcome, type StartOptions, startServer } from './app.js';
export {
  ConfigError,
  DEFAULT_DATABASE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_NONCE_CAPACITY,
  defaultMaxConnections,
  ENVIRONMENT_VARIABLES,
  isLoopbackHost,
  loadConfig,
  MAX_NONCE_CAPACITY,
  type RawConfig,
  SCHEME_NAMES,
  type SchemeName,
  type ServerConfig,
  type TlsVersion,
} from './config.js';
export { DriverMissing, loadPostgresDriver, loadSqliteDriver } from './drivers.js';
export {
  addressBucket,
  type ConnectionRefusal,
  headersCheckIntervalMs,
  IPV6_PREFIX_MULTIPLE,
  type Listener,
  openListener,
  prefixBucket,
} from './listener.js';
export { createLogger } from './logger.js';
export { createMetrics, type ServerMetrics } from './metrics.js';
export type { PasswordCheck, PasswordGate, PasswordHashHooks } from './password-gate.js';
export { createProxyTrust } from './proxies.js';
export { type LimitStores, memoryLimitStores, type Services } from './services.js';
export { type SharedStoresDescription, shareLimitStores, supervisorLimitStores } from './shared-stores.js';
export { type OpenedKeys, openKeys, type StoreInfo } from './store.js';
export { defaultWorkerCount, type ListeningInfo, runServe, type ServeHooks } from './supervisor.js';
export { MAX_DURATION_SECONDS, parseByteSize, parseDuration } from './units.js';
export const PACKAGE_NAME = '@hmac-kit/server';
