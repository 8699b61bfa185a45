import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * The version of @hmac-kit/server (its package.json, the same file from src/ and dist/), for
 * `hmac_kit_build_info` and the `service.version` of traces.
 *
 * @example
 * ```ts
 * serverVersion(); // '0.1.0'
 * ```
 */
export function serverVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    cached = typeof manifest.version === 'string' ? manifest.version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
