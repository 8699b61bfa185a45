import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** One package as `npm pack --json` describes it. */
export interface PackedPackage {
  name: string;
  version: string;
  /** The tarball's file name in {@link PackedPackages.dir}. */
  filename: string;
  files: { path: string }[];
}

/** The tarballs of every published workspace package, packed as `npm pack` does (prepack included). */
export interface PackedPackages {
  /** The folder holding the tarballs; shared, so read it, never write into it. */
  dir: string;
  packages: PackedPackage[];
}

/** npm and node as a user runs them: no npm_* variables from a surrounding `npm test`, no HMAC_KIT_* settings. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(npm_|HMAC_KIT_|NODE_OPTIONS$)/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

let packing: Promise<PackedPackages> | undefined;

/**
 * Packs every published package once for as long as their inputs are unchanged (test-support/pack-published.mjs,
 * under the build lock: prepack runs `tsc -b`), so the test files that need the tarballs share one `npm pack`.
 *
 * @example
 * const { dir, packages } = await packedPackages();
 * const server = packages.find((p) => p.name === '@hmac-kit/server');
 */
export function packedPackages(): Promise<PackedPackages> {
  packing ??= new Promise<PackedPackages>((resolve, reject) => {
    execFile(
      'flock',
      ['/tmp/hmac-kit-server-tests-build.lock', process.execPath, join(ROOT, 'test-support/pack-published.mjs')],
      { cwd: ROOT, env: userEnv(), maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`packing the published packages failed: ${error.message}\n${stderr}`));
          return;
        }
        const dir = stdout.trim();
        resolve({ dir, packages: JSON.parse(readFileSync(join(dir, 'pack.json'), 'utf8')) as PackedPackage[] });
      },
    );
  });
  return packing;
}
