// Helpers shared by the packaging tests: the published packages and their README examples.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A workspace package as published. */
export interface PublishedPackage {
  /** Folder relative to the repository, e.g. `packages/core`. */
  dir: string;
  manifest: {
    name: string;
    version: string;
    private?: boolean;
    description?: string;
    license?: string;
    keywords?: string[];
    homepage?: string;
    bugs?: { url?: string };
    repository?: { type?: string; url?: string; directory?: string };
    publishConfig?: { access?: string };
    scripts?: Record<string, string>;
    files?: string[];
    bin?: Record<string, string>;
    exports?: Record<string, string | Record<string, string>>;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    optionalDependencies?: Record<string, string>;
  };
}

/** Every workspace package that is published (not private), in workspace order. */
export function publishedPackages(): PublishedPackage[] {
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return root.workspaces
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) }))
    .filter((pkg) => !pkg.manifest.private);
}

/**
 * The runnable example of a package README: its first ```js block (TypeScript and shell
 * blocks are illustrations; the js one is what the README tells a user to save and run).
 */
export function readmeExample(dir: string): string | undefined {
  const readme = readFileSync(join(ROOT, dir, 'README.md'), 'utf8');
  return /^```js\n([\s\S]*?)^```$/m.exec(readme)?.[1];
}
