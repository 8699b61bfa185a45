// prepack/postpack of @hmac-kit/server: the published package serves /openapi.json from its own copy
// of docs/openapi.yaml (a user's install has no docs/ folder). The copy lives only while npm packs:
// left in the work tree it would shadow later edits of docs/openapi.yaml (the server reads it first).
//   node scripts/copy-openapi.mjs           copy docs/openapi.yaml into packages/server/
//   node scripts/copy-openapi.mjs --remove  remove that copy
import { copyFileSync, rmSync } from 'node:fs';

const copy = new URL('../packages/server/openapi.yaml', import.meta.url);
if (process.argv.includes('--remove')) rmSync(copy, { force: true });
else copyFileSync(new URL('../docs/openapi.yaml', import.meta.url), copy);
