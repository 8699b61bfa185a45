/**
 * `@hmac-kit/middleware`'s main entry is loaded by the Fetch and Hono adapters on Workers, Deno,
 * Bun and in browsers: nothing it imports, however deep, may import a `node:` module or touch a
 * Node-only global when loaded. The Node-only parts (the check-phase batches) live behind
 * `@hmac-kit/middleware/node`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const source = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** The files `entry` imports, however deep, within this package's source. */
function moduleGraph(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (files.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    files.set(file, text);
    for (const [, specifier] of text.matchAll(/\bfrom '(\.[^']+)'/g)) {
      pending.push(join(dirname(file), (specifier as string).replace(/\.js$/, '.ts')));
    }
  }
  return files;
}

describe('@hmac-kit/middleware main entry', () => {
  it('imports no node: module and names no Node-only global, however deep', () => {
    const graph = moduleGraph(join(source, 'index.ts'));
    expect(graph.size).toBeGreaterThan(5);
    for (const [file, text] of graph) {
      expect(text, file).not.toMatch(/from 'node:/);
      expect(text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''), file).not.toMatch(/\bsetImmediate\b|\bAsyncResource\b/);
    }
  });

  it('keeps the check-phase batches behind @hmac-kit/middleware/node', () => {
    const graph = moduleGraph(join(source, 'node.ts'));
    expect([...graph.keys()].some((file) => file.endsWith('check-phase.ts'))).toBe(true);
  });
});
