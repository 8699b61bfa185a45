// The browser example (examples/browser) in headless Chromium: the page signs with WebCrypto
// (the core bundled by esbuild) and calls a real `hmac-kit serve` gateway. One node server on
// port 0 serves the page and passes every other request through to the gateway unchanged, so
// the page and the API share an origin (no CORS) and @authority is the origin the page signed.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientCases,
  type Echo,
  type LiveServer,
  sha256Hex,
  startLiveServer,
  tempDir,
} from '../../../test-support/clients/harness.js';
// @ts-expect-error: a plain ESM build script without type declarations
import { buildExample } from '../build.mjs';

const CHROMIUM = '/usr/bin/chromium';
const PAGE = fileURLToPath(new URL('../index.html', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  console.warn(`[browser example] SKIPPED: ${CHROMIUM} not found`);
}

describe.runIf(haveChromium)('browser example in headless Chromium', () => {
  let gateway: LiveServer;
  let site: Server;
  let origin: string;
  let context: BrowserContext;
  const dir = tempDir('hmac-kit-browser-');

  beforeAll(async () => {
    const bundle = readFileSync((await buildExample(join(dir.path, 'dist'))) as string);
    gateway = await startLiveServer();
    const upstream = new URL(gateway.origin);
    site = createServer((req, res) => {
      if (req.url === '/' || req.url === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(readFileSync(PAGE));
        return;
      }
      if (req.url === '/dist/app.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(bundle);
        return;
      }
      if (req.url === '/favicon.ico') {
        res.writeHead(204);
        res.end();
        return;
      }
      // Everything else goes to the gateway byte for byte, Host header included.
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    context = await chromium.launchPersistentContext(join(dir.path, 'profile'), {
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
  });

  afterAll(async () => {
    await context?.close();
    await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
    await gateway?.close();
    dir.cleanup();
  });

  it('the form signs a request with WebCrypto and shows the verified response', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${origin}/`);
    await page.fill('#key-id', gateway.keyId);
    await page.fill('#secret', gateway.secret);
    await page.selectOption('#method', 'POST');
    await page.fill('#url', '/orders/café?x=1&x=2');
    await page.fill('#body', '{"city":"東京"}');
    await page.click('#send');
    await page.waitForFunction(() => document.querySelector('#result')?.textContent?.startsWith('HTTP '));
    const text = (await page.textContent('#result')) ?? '';
    expect(text.split('\n')[0]).toBe('HTTP 200');
    const echo = JSON.parse(text.slice(text.indexOf('\n\n') + 2)) as Echo;
    expect(echo).toMatchObject({ keyId: gateway.keyId, method: 'POST', target: '/orders/caf%C3%A9?x=1&x=2' });
    expect(echo.bodySha256).toBe(sha256Hex('{"city":"東京"}'));
    expect(await page.getAttribute('#result', 'class')).toBe('ok');
    await page.screenshot({ path: join(dir.path, 'page.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('every client case, signed in the page, passes the gateway', async () => {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    for (const testCase of clientCases) {
      const result = await page.evaluate(
        async ({ keyId, secret, method, url, bodyBase64, contentType }) => {
          const body = bodyBase64 === null ? undefined : Uint8Array.from(atob(bodyBase64), (c) => c.charCodeAt(0));
          return window.hmacKitExample.send({
            keyId,
            secret,
            method,
            url,
            body,
            headers: contentType ? { 'content-type': contentType } : {},
          });
        },
        {
          keyId: gateway.keyId,
          secret: gateway.secret,
          method: testCase.method,
          url: testCase.pathAndQuery,
          bodyBase64: testCase.body ? Buffer.from(testCase.body).toString('base64') : null,
          contentType: testCase.contentType ?? null,
        },
      );
      expect(result.status, `${testCase.name}: ${result.body}`).toBe(200);
      const echo = JSON.parse(result.body) as Echo;
      expect(echo.target, testCase.name).toBe(testCase.expectedTarget);
      expect(echo.bodySha256, testCase.name).toBe(sha256Hex(testCase.body ?? new Uint8Array()));
    }
    await page.close();
  });

  it('a wrong secret is refused, and the page says so', async () => {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.fill('#key-id', gateway.keyId);
    await page.fill('#secret', `hks_${Buffer.alloc(32, 5).toString('base64url')}`);
    await page.click('#send');
    await page.waitForFunction(() => document.querySelector('#result')?.textContent?.startsWith('HTTP '));
    const text = (await page.textContent('#result')) ?? '';
    expect(text.split('\n')[0]).toBe('HTTP 401');
    expect(text).toContain('signature_invalid');
    expect(await page.getAttribute('#result', 'class')).toBe('fail');
    await page.close();
  });
});
