import { readFile } from 'node:fs/promises';

/**
 * Where the OpenAPI description lives: `docs/openapi.yaml` at the repository root, the same
 * path from `src/` and from `dist/`. It is the one source: `/openapi.json` is made from it.
 */
export const OPENAPI_FILE = new URL('../../../docs/openapi.yaml', import.meta.url);

/**
 * The published package's copy of {@link OPENAPI_FILE} (made by `prepack`, not committed): an npm
 * install has no `docs/` folder beside it. Read first, so an installed server never serves 404.
 */
export const PACKAGED_OPENAPI_FILE = new URL('../openapi.yaml', import.meta.url);

async function readDescription(): Promise<string> {
  try {
    return await readFile(PACKAGED_OPENAPI_FILE, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return readFile(OPENAPI_FILE, 'utf8');
  }
}

let cached: Promise<string> | undefined;

/**
 * The OpenAPI description as JSON text, read and converted once per process (on the first
 * request for `/openapi.json`, so a server never pays for it unless someone asks).
 *
 * @example
 * ```ts
 * const json = await openApiJson();
 * response.end(json);
 * ```
 */
export function openApiJson(): Promise<string> {
  // The YAML parser is loaded with the first request too, not at every server's start.
  cached ??= Promise.all([readDescription(), import('yaml')]).then(([text, { parse }]) =>
    JSON.stringify(parse(text, { merge: true })),
  );
  // A failed read is retried on the next request rather than cached.
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
