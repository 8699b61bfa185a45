/**
 * Published third-party test vectors, vendored under test-support/vectors/ (see its README.md for the
 * source and licence of every file). Tests read them from the repository only, so a fresh clone needs
 * nothing beside it; a missing file is a broken checkout and fails loudly instead of skipping.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of test-support/vectors/ (with a trailing slash). */
export const PUBLISHED_VECTORS_DIR = fileURLToPath(new URL('./vectors/', import.meta.url));

/**
 * Absolute path of a vendored vector file or folder.
 *
 * @example
 * const suite = publishedVectorPath('sigv4/v4/');
 */
export function publishedVectorPath(name: string): string {
  return `${PUBLISHED_VECTORS_DIR}${name}`;
}

/**
 * The UTF-8 text of a vendored vector file.
 *
 * @example
 * const b25 = readPublishedVector('rfc9421-b25.txt');
 */
export function readPublishedVector(name: string): string {
  return readFileSync(publishedVectorPath(name), 'utf8');
}
