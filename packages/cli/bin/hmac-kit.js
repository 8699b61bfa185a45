#!/usr/bin/env node
// Thin launcher so the workspace links a bin that exists before the first build.
import { main } from '../dist/index.js';

main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`hmac-kit: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
