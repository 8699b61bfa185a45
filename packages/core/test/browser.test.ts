import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret, toProblem, verifyMessage } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { type CheckResult, runCoreChecks } from './support/checks.js';
import type { KnownAnswerVector } from './support/vectors.js';

const CHROMIUM = '/usr/bin/chromium';
const chromiumPresent = existsSync(CHROMIUM);
if (!chromiumPresent) {
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (required under CI=true)`);
  console.warn(`[hmac-kit] ${CHROMIUM} not found: skipping the headless browser run of the core suite`);
}

const VECTORS_JSON = readFileSync(fileURLToPath(new URL('./vectors/rfc9421.json', import.meta.url)), 'utf8');
const vectors = (JSON.parse(VECTORS_JSON) as { vectors: KnownAnswerVector[] }).vectors;
const b25 = readPublishedVector('rfc9421-b25.txt');
const EXPECTED_CHECKS = 1 + 2 + 2 + vectors.length + 3;
/** The page adds one check of its own: a live signed fetch against this test server. */
const BROWSER_ONLY_CHECKS = 1;

function assertAllPassed(results: CheckResult[], extra = 0): void {
  const failed = results.filter((r) => !r.ok);
  expect(failed).toEqual([]);
  expect(results).toHaveLength(EXPECTED_CHECKS + extra);
}

describe('shared core checks', () => {
  it('pass in Node (baseline for the browser run)', async () => {
    assertAllPassed(await runCoreChecks({ b25, vectors }));
  });
});

describe.skipIf(!chromiumPresent)('core suite in headless Chromium', () => {
  let server: Server;
  let origin: string;
  let bundle: string;

  beforeAll(async () => {
    const output = await build({
      entryPoints: [fileURLToPath(new URL('./browser/entry.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'chrome110',
      logLevel: 'silent',
    });
    bundle = output.outputFiles[0]!.text;
    const liveKey = {
      keyId: 'hk_browser_live',
      secret: new Uint8Array(32).map((_, i) => 200 - i),
      algorithm: 'sha256' as const,
    };
    const nonceStore = memoryNonceStore();
    server = createServer(async (req, res) => {
      if (req.url === '/api/key') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ keyId: liveKey.keyId, secret: formatSecret(liveKey.secret) }));
        return;
      }
      if (req.url?.startsWith('/api/')) {
        try {
          await verifyMessage(
            { method: req.method ?? 'GET', url: new URL(req.url, origin), headers: req.headers },
            req,
            {
              keys: (id) => (id === liveKey.keyId ? liveKey : undefined),
              nonceStore,
            },
          );
          res.writeHead(200).end('verified');
        } catch (error) {
          const problem = toProblem(error);
          res
            .writeHead(problem.status, problem.headers)
            .end(JSON.stringify({ ...problem.body, internal: String(error) }));
        }
        return;
      }
      const routes: Record<string, [string, string] | undefined> = {
        '/': [
          'text/html',
          '<!doctype html><meta charset="utf-8"><title>hmac-kit core</title><script type="module" src="/bundle.js"></script>',
        ],
        '/bundle.js': ['text/javascript', bundle],
        '/vectors/rfc9421.json': ['application/json', VECTORS_JSON],
        '/vectors/rfc9421-b25.txt': ['text/plain; charset=utf-8', b25],
      };
      const route = routes[req.url ?? ''];
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': route[0] }).end(route[1]);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('bundles for the browser without Node built-ins', () => {
    expect(bundle.length).toBeGreaterThan(1000);
    expect(bundle).not.toMatch(/from\s*["']node:|require\(["']node:/);
  });

  it('runs B.2.5, the JSON vectors, round trips and sha2-vs-WebCrypto in the page', async () => {
    const userDataDir = mkdtempSync(join(tmpdir(), 'hmac-kit-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => window.hmacKitResults !== undefined, undefined, { timeout: 60_000 });
      const environment = await page.evaluate(() => ({
        userAgent: navigator.userAgent,
        hasProcess: typeof (globalThis as { process?: unknown }).process !== 'undefined',
        secureContext: window.isSecureContext,
      }));
      expect(environment.userAgent).toMatch(/Chrome\//);
      expect(environment.hasProcess).toBe(false);
      expect(environment.secureContext).toBe(true);
      const results = await page.evaluate(() => window.hmacKitResults);
      expect(pageErrors).toEqual([]);
      expect(results).not.toHaveProperty('error');
      assertAllPassed(results as CheckResult[], BROWSER_ONLY_CHECKS);
    } finally {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
