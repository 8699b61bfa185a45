import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';

/** The stores and key service a running server uses. */
export interface Services {
  /** `ok` or `down` per store, for `/readyz`. */
  ready(): Promise<Record<string, 'ok' | 'down'>>;
  close(): Promise<void>;
}

export async function openServices(_config: ServerConfig, _logger: Logger, _metrics: ServerMetrics): Promise<Services> {
  return {
    async ready() {
      return {};
    },
    async close() {},
  };
}
