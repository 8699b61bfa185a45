import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The page is built into @hmac-kit/server's dist/console, which `hmac-kit serve` serves at
// <admin prefix>/console/. Relative asset URLs (base './') keep it working under any prefix.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // Workspace packages from their TypeScript sources (the core's signer runs in the page).
  resolve: { conditions: ['@hmac-kit/source', 'browser', 'module', 'import', 'default'] },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../server/dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline script: the page's Content-Security-Policy allows its own files only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
