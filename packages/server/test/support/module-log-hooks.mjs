// Module resolution hooks for module-log-register.mjs (they run on the loader thread).
import { appendFileSync } from 'node:fs';

let logFile;

export function initialize(data) {
  logFile = data.logFile;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(logFile, `${specifier} ${resolved.url}\n`);
  return resolved;
}
