// Public API of @hmac-kit/server. Named exports only, listed explicitly.
export { type RunningServer, startServer } from './app.js';
export {
  ConfigError,
  DEFAULT_DATABASE,
  ENVIRONMENT_VARIABLES,
  loadConfig,
  type RawConfig,
  SCHEME_NAMES,
  type SchemeName,
  type ServerConfig,
} from './config.js';
export { createLogger } from './logger.js';
export { createMetrics, type ServerMetrics } from './metrics.js';
export { createProxyTrust } from './proxies.js';
export type { Services } from './services.js';
export { type OpenedKeys, openKeys, type StoreInfo } from './store.js';
export { parseByteSize, parseDuration } from './units.js';
export const PACKAGE_NAME = '@hmac-kit/server';
