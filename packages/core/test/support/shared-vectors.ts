/** Node-side access to ../shared/vectors (beside the repository clone). Missing vectors fail under CI=true. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_VECTORS_DIR = fileURLToPath(new URL('../../../../../shared/vectors/', import.meta.url));

/** The text of a shared vector file, or `undefined` (with a visible notice) when absent outside CI. */
export function readSharedVector(name: string): string | undefined {
  const path = `${SHARED_VECTORS_DIR}${name}`;
  if (existsSync(path)) return readFileSync(path, 'utf8');
  if (process.env.CI === 'true') throw new Error(`shared vector ${path} is missing (required under CI=true)`);
  console.warn(`[hmac-kit] shared vector ${path} not found: skipping the tests that need it`);
  return undefined;
}
