/**
 * The console end to end, in Debian's headless Chromium driven by playwright-core, against a real
 * in-process `hmac-kit serve` on a SQLite file holding 100,000 keys: sign-in (and its refusals),
 * create a key and read its secret once, try a request signed in the page, rotate, revoke and see
 * the next signed request refused, filter the audit trail, keyboard-only use, phone width, and no
 * stored secret in any response the page received.
 *
 * Screenshots of each page are written to packages/console/screenshots/ (see docs/console.md).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { KeyRow, PrincipalRow } from '@hmac-kit/keys';
import { loadConfig, type RunningServer, startServer } from '@hmac-kit/server';
import { openKeys } from '@hmac-kit/server/store';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
/** Waits for a condition in the page (generous: the machine may be loaded; never a fixed sleep). */
// Hang detectors, not expectations: two full suites at once on 2 cores have taken Chromium past 30 s for one step.
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 60_000, interval: 100 });
const chromiumPresent = existsSync(CHROMIUM);
if (!chromiumPresent) {
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (required under CI=true)`);
  console.warn(`[hmac-kit] ${CHROMIUM} not found: skipping the console end-to-end test`);
}

const CONSOLE_DIR = fileURLToPath(new URL('../', import.meta.url));
const SCREENSHOTS = join(CONSOLE_DIR, 'screenshots');
const SEEDED = 100_000;
const PAGE_SIZE = 50;

/** Where `npm run build` (packages/console/build.mjs) writes the page. */
const BUILT_PAGE = fileURLToPath(new URL('../../server/dist/console/', import.meta.url));

/** The newest modification time of the files below `path` (the file's own for a file), skipping `skip` names. */
function newestChange(path: string, skip: ReadonlySet<string> = new Set()): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) {
    if (!skip.has(entry)) newest = Math.max(newest, newestChange(join(path, entry), skip));
  }
  return newest;
}

/**
 * Whether the built page in packages/server/dist/console is newer than every input of the build, as
 * `make` decides: the console package (sources, index.html, Vite configuration, build script), the
 * core's sources it bundles, and the lockfile (Vite, Preact). The build writes every file anew, index.html
 * last, so its time is the build's.
 */
function builtPageIsFresh(): boolean {
  const page = join(BUILT_PAGE, 'index.html');
  if (!existsSync(page)) return false;
  const inputs = [
    newestChange(CONSOLE_DIR, new Set(['test', 'screenshots', 'node_modules'])),
    newestChange(fileURLToPath(new URL('../../core/src', import.meta.url))),
    newestChange(fileURLToPath(new URL('../../core/package.json', import.meta.url))),
    newestChange(fileURLToPath(new URL('../../../package-lock.json', import.meta.url))),
  ];
  return statSync(page).mtimeMs > Math.max(...inputs);
}

/** 100,000 keys over 10,000 principals, created before anything the test makes (the newest page shows those). */
function seedRows(masterKeyId: string): { principals: PrincipalRow[]; keys: KeyRow[] } {
  const start = Date.now() - 30 * 86_400_000;
  const random = randomBytes(11 * SEEDED).toString('hex');
  const principals: PrincipalRow[] = [];
  const keys: KeyRow[] = [];
  for (let i = 0; i < SEEDED; i++) {
    const principal = `bulk-${i % 10_000}`;
    if (i < 10_000) {
      principals.push({
        name: principal,
        kind: 'service',
        disabled: false,
        passwordHash: null,
        createdAt: start,
        disabledAt: null,
      });
    }
    keys.push({
      keyId: `hk_${random.slice(22 * i, 22 * i + 22)}`,
      principal,
      algorithm: 'sha256',
      scopes: [],
      label: null,
      createdAt: start + i,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      revokedReason: null,
      rateLimit: null,
      rotatedFrom: null,
      // Listing never decrypts: these keys are never used to verify.
      masterKeyId,
      secretCiphertext: 'x'.repeat(80),
    });
  }
  return { principals, keys };
}

describe.skipIf(!chromiumPresent)('the console in headless Chromium', { timeout: 120_000 }, () => {
  let dir: string;
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let consoleUrl: string;
  /** The page as built for this test (a second server below serves it too). */
  let assets: string;
  /** Every response body the page received from the server, with its URL and method. */
  const received: Array<{ method: string; url: string; status: number; body: string }> = [];
  /** Secrets the server stores: none may reach the page except as a creation answer. */
  const storedSecrets: string[] = [];
  const issuedSecrets = new Map<string, string>();
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'hmac-kit-console-e2e-'));
    // The page as `npm run build` makes it, from the current sources, in a folder of this test's own:
    // a copy of packages/server/dist/console when that build is newer than everything it is built from
    // (`npm test` builds it just before vitest), else built here.
    assets = join(dir, 'console');
    if (builtPageIsFresh()) {
      cpSync(BUILT_PAGE, assets, { recursive: true });
    } else {
      const { build } = await import('vite');
      await build({
        configFile: join(CONSOLE_DIR, 'vite.config.ts'),
        logLevel: 'warn',
        build: { outDir: assets, emptyOutDir: true },
      });
    }
    const database = join(dir, 'keys.db');
    const masterKeys = `mk-e2e:${randomBytes(32).toString('base64')}`;
    const seeded = await openKeys({ database, masterKeys });
    const { principals, keys } = seedRows('mk-e2e');
    for (let i = 0; i < keys.length; i += 10_000) {
      await seeded.store.importRows!(i === 0 ? principals : [], keys.slice(i, i + 10_000));
    }
    await seeded.close();

    server = await startServer(
      loadConfig({ flags: { port: 0, database, masterKeys, logLevel: 'silent', rotateOverlap: '1h' }, env: {} }),
      { consoleAssets: pathToFileURL(`${assets}/`) },
    );
    consoleUrl = `${server.url}/console/`;
    const service = server.services.keyService;
    await service.createPrincipal({ name: 'root', kind: 'user', password: 'root password 1', actor: 'test' });
    const rootKey = await service.createKey({ principal: 'root', scopes: ['admin'], actor: 'test' });
    await service.createPrincipal({ name: 'dev', kind: 'user', password: 'dev password 1', actor: 'test' });
    const devKey = await service.createKey({ principal: 'dev', scopes: ['orders:read'], actor: 'test' });
    storedSecrets.push(rootKey.secret, devKey.secret);

    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
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
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('response', async (response) => {
      if (!response.url().startsWith(server.url)) return;
      const body = await response.text().catch(() => '');
      received.push({ method: response.request().method(), url: response.url(), status: response.status(), body });
    });
  }, 240_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // A failed step leaves a picture of the page behind it.
  afterEach(async (test) => {
    if (test.task.result?.state === 'fail' && page) {
      await page.screenshot({ path: join(SCREENSHOTS, `failed-${test.task.name.slice(0, 40)}.png`) }).catch(() => {});
    }
  });

  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  async function signIn(name: string, password: string) {
    await page.getByLabel('Principal name').fill(name);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  function keyRow(keyId: string) {
    return page.locator(`tr[data-key-id="${keyId}"]`);
  }

  it('refuses a wrong password and a non-admin principal', async () => {
    await page.goto(`${server.url}/console`);
    await poll(() => page.url()).toBe(consoleUrl);
    await shot('01-sign-in');
    await signIn('root', 'not the password');
    await poll(() => page.getByRole('alert').filter({ hasText: 'invalid_credentials' }).count()).toBe(1);
    // dev has a password and a key, but no admin scope.
    await signIn('dev', 'dev password 1');
    await poll(() => page.getByRole('alert').filter({ hasText: 'not an administrator' }).count()).toBe(1);
    await shot('02-sign-in-refused');
    expect(await page.getByTestId('signed-in-as').count()).toBe(0);
    expect((await context.cookies()).filter((cookie) => cookie.name === 'hmac_kit_console')).toEqual([]);
  });

  it('signs in with the keyboard only and moves around by keyboard', async () => {
    await page.reload();
    // Focus starts in the name field.
    await poll(() => page.evaluate(() => document.activeElement?.id)).toBe('username');
    await page.keyboard.type('root');
    await page.keyboard.press('Tab');
    await page.keyboard.type('root password 1');
    await page.keyboard.press('Enter');
    await poll(() => page.getByTestId('signed-in-as').textContent()).toBe('root');
    const cookie = (await context.cookies()).find((item) => item.name === 'hmac_kit_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    // Focus lands on the page's heading; Shift+Tab walks back through the header, in order.
    await poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    const order: string[] = [];
    for (let step = 0; step < 6; step++) {
      await page.keyboard.press('Shift+Tab');
      order.push(await page.evaluate(() => document.activeElement?.textContent?.trim() ?? ''));
    }
    expect(order).toEqual(['Sign out', 'Try a request', 'Activity', 'Principals', 'Keys', 'Skip to content']);
    // From the skip link: Tab, Tab reaches "Principals"; Enter opens it and focus moves to its heading.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Principals');
    await poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    // Create a principal without the mouse: tab to the name field of the form.
    await page.getByLabel('Name', { exact: true }).focus();
    await page.keyboard.type('keyboard-made');
    await page.keyboard.press('Enter');
    await poll(() => page.getByRole('status').filter({ hasText: 'Created principal keyboard-made' }).count()).toBe(1);
    expect(await server.services.keyService.getPrincipal('keyboard-made')).toMatchObject({ kind: 'service' });
    await shot('03-principals');
  });

  it('creates a key and shows its secret once, with a copy button', async () => {
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page.getByLabel('Principal', { exact: true }).first().waitFor();
    const form = page.locator('form', { has: page.getByRole('button', { name: 'Create key' }) });
    await form.getByLabel('Principal').fill('dev');
    await form.getByLabel('Scopes').fill('orders:read, orders:write');
    await form.getByLabel('Algorithm').selectOption('sha384');
    await form.getByLabel('Expires in').fill('30d');
    await form.getByLabel('Rate limit (requests)').fill('100');
    await form.getByLabel('per (seconds)').fill('60');
    await form.getByLabel('Label').fill('made in the console');
    await form.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New secret' });
    await dialog.waitFor();
    await poll(() => dialog.getByText('you will not see it again').count()).toBe(1);
    const secret = await page.getByTestId('issued-secret').inputValue();
    const keyId = (await page.getByTestId('issued-key-id').textContent()) ?? '';
    expect(secret).toMatch(/^hks_/);
    expect(keyId).toMatch(/^hk_/);
    issuedSecrets.set(keyId, secret);
    await dialog.getByRole('button', { name: 'Copy secret' }).click();
    await poll(() => dialog.getByRole('status').textContent()).toBe('Secret copied to the clipboard.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await shot('04-new-secret');
    await dialog.getByRole('button', { name: 'I have stored it' }).click();
    await poll(() => dialog.isVisible()).toBe(false);
    // Gone from the page once the dialog closed.
    expect(await page.content()).not.toContain(secret);
    const stored = await server.services.keyService.getKey(keyId);
    expect(stored).toMatchObject({
      principal: 'dev',
      algorithm: 'sha384',
      scopes: ['orders:read', 'orders:write'],
      label: 'made in the console',
      rateLimit: { limit: 100, windowSeconds: 60 },
    });
    await poll(() => keyRow(keyId).count()).toBe(1);
    expect(await keyRow(keyId).textContent()).toContain('made in the console');
  });

  it('signs a request in the page (WebCrypto), shows the signature base and the answer; the key shows the scheme', async () => {
    const [keyId, secret] = [...issuedSecrets][0]!;
    await page.getByRole('link', { name: 'Try a request' }).click();
    await page.getByLabel('Key id').fill(keyId);
    await page.getByLabel('Secret').fill(secret);
    // The key was made with HMAC-SHA384: signed with SHA-256 it is refused, with its own algorithm accepted.
    await page.getByRole('button', { name: 'Sign and send' }).click();
    await poll(() => page.getByTestId('try-status').textContent()).toBe('401');
    await page.getByLabel('Key algorithm').selectOption('sha384');
    await page.getByRole('button', { name: 'Sign and send' }).click();
    await poll(() => page.getByTestId('try-status').textContent()).toBe('200');
    const base = (await page.getByTestId('try-base').textContent()) ?? '';
    expect(base).toContain('"@method": GET');
    expect(base).toContain(`"@path": /v1/whoami`);
    expect(base).toMatch(new RegExp(`"@signature-params": \\(.*\\);.*keyid="${keyId}"`));
    const answer = JSON.parse((await page.getByTestId('try-body-out').textContent()) ?? '{}');
    expect(answer).toMatchObject({ keyId, principal: 'dev', scheme: 'rfc9421' });
    await shot('05-try-a-request');
    // The secret went nowhere: no request the page made carried it.
    expect(received.some((entry) => entry.url.includes(secret))).toBe(false);
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await poll(() => keyRow(keyId).locator('td').nth(6).textContent()).toBe('rfc9421 (1)');
  });

  it('rotates a key with an overlap: a new secret once, the old key still active until the overlap ends', async () => {
    const [keyId] = [...issuedSecrets][0]!;
    await keyRow(keyId)
      .getByRole('button', { name: `Rotate ${keyId}` })
      .click();
    const rotate = page.getByRole('dialog', { name: 'Rotate key' });
    await rotate.getByLabel('Overlap').fill('2h');
    await rotate.getByRole('button', { name: 'Rotate' }).click();
    const dialog = page.getByRole('dialog', { name: 'New secret' });
    await dialog.waitFor();
    const newKeyId = (await page.getByTestId('issued-key-id').textContent()) ?? '';
    const newSecret = await page.getByTestId('issued-secret').inputValue();
    expect(newKeyId).not.toBe(keyId);
    issuedSecrets.set(newKeyId, newSecret);
    expect(await dialog.textContent()).toContain(keyId);
    await dialog.getByRole('button', { name: 'I have stored it' }).click();
    const old = await server.services.keyService.getKey(keyId);
    expect(old?.status).toBe('active');
    const left = (old?.expiresAt?.getTime() ?? 0) - Date.now();
    expect(left).toBeGreaterThan(3600_000);
    expect(left).toBeLessThanOrEqual(2 * 3600_000);
    expect((await server.services.keyService.getKey(newKeyId))?.rotatedFrom).toBe(keyId);
    await poll(() => keyRow(newKeyId).count()).toBe(1);
    await shot('06-keys-after-rotation');
  });

  it('revokes a key after a confirmation, and the next request signed with it is refused', async () => {
    const [keyId, secret] = [...issuedSecrets][1]!;
    await keyRow(keyId)
      .getByRole('button', { name: `Revoke ${keyId}` })
      .click();
    const confirm = page.getByRole('dialog', { name: 'Revoke key?' });
    await confirm.waitFor();
    // Escape cancels: nothing revoked, focus back on the button that opened it.
    await page.keyboard.press('Escape');
    await poll(() => confirm.isVisible()).toBe(false);
    expect((await server.services.keyService.getKey(keyId))?.status).toBe('active');
    await poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(`Revoke ${keyId}`);
    await page.keyboard.press('Enter');
    await confirm.waitFor();
    await confirm.getByLabel('Reason (kept in the audit trail)').fill('leaked in a test');
    await shot('07-revoke-confirmation');
    await confirm.getByRole('button', { name: `Revoke ${keyId}` }).click();
    await poll(() =>
      page
        .getByRole('status')
        .filter({ hasText: `Revoked ${keyId}` })
        .count(),
    ).toBe(1);
    expect((await server.services.keyService.getKey(keyId))?.status).toBe('revoked');
    // Revoked keys leave the default listing; "Include revoked" shows them.
    await poll(() => keyRow(keyId).count()).toBe(0);
    await page.getByLabel('Include revoked').check();
    await page.getByRole('button', { name: 'Search' }).click();
    await poll(() => keyRow(keyId).locator('.badge').textContent()).toBe('revoked');

    await page.getByRole('link', { name: 'Try a request' }).click();
    await page.getByLabel('Key id').fill(keyId);
    await page.getByLabel('Secret').fill(secret);
    await page.getByLabel('Key algorithm').selectOption('sha384');
    await page.getByRole('button', { name: 'Sign and send' }).click();
    await poll(() => page.getByTestId('try-status').textContent()).toBe('401');
    expect(await page.getByTestId('try-body-out').textContent()).toContain('signature_invalid');
    await shot('08-try-refused-after-revoke');
  });

  it('shows the audit trail newest first, filtered by key, principal and event; failures and health', async () => {
    const [, revokedId] = [...issuedSecrets.keys()];
    await page.getByRole('link', { name: 'Activity' }).click();
    await page.getByTestId('health-version').waitFor();
    const failures = page.locator('table', { has: page.getByText('By key', { exact: true }) });
    await poll(() => failures.textContent()).toContain(revokedId);
    const health = (await page.locator('dl.facts').textContent()) ?? '';
    expect(health).toContain('sqlite');
    expect(health).toContain('mk-e2e');
    expect(health).toContain('not configured');
    // Unfiltered: newest first, as the audit store orders it.
    const rows = page.locator('tr[data-audit-type]');
    await poll(() => rows.count()).toBeGreaterThan(3);
    const shown = await rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-audit-type')));
    const newest = await server.services.keyService.queryAudit({ limit: shown.length });
    expect(shown).toEqual(newest.map((entry) => entry.type));
    expect(newest.map((entry) => entry.id)).toEqual([...newest.map((entry) => entry.id)].sort((a, b) => b - a));
    await shot('09-activity');
    await page.getByLabel('Key id').fill(revokedId!);
    await page.getByLabel('Event').selectOption('key.revoked');
    await page.getByRole('button', { name: 'Filter' }).click();
    await poll(() => rows.count()).toBe(1);
    const entry = (await rows.first().textContent()) ?? '';
    expect(entry).toContain('key.revoked');
    expect(entry).toContain('console:root');
    expect(entry).toContain('leaked in a test');
    await page.getByLabel('Key id').fill('');
    await page.getByLabel('Principal').fill('dev');
    await page.getByLabel('Event').selectOption('key.created');
    await page.getByRole('button', { name: 'Filter' }).click();
    const created = await server.services.keyService.queryAudit({
      principal: 'dev',
      types: ['key.created'],
      limit: 50,
    });
    expect(created.length).toBeGreaterThanOrEqual(2);
    await poll(() => rows.count()).toBe(created.length);
    const types = await rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-audit-type')));
    expect(new Set(types)).toEqual(new Set(['key.created']));
    await shot('10-audit-filtered');
  });

  it('pages through 100,000 keys 50 rows at a time with keyset cursors, and finds one key by id', async () => {
    const service = server.services.keyService;
    const calls: Array<{ limit: number | undefined; after: boolean; returned: number }> = [];
    const original = service.listKeys.bind(service);
    const spy = vi.spyOn(service, 'listKeys').mockImplementation(async (query) => {
      const page = await original(query);
      calls.push({ limit: query?.limit, after: query?.after !== undefined, returned: page.items.length });
      return page;
    });
    try {
      await page.getByRole('link', { name: 'Keys', exact: true }).click();
      const rows = page.locator('tr[data-key-id]');
      await poll(() => rows.count()).toBe(PAGE_SIZE);
      const seen = new Set(await rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-key-id'))));
      for (let next = 0; next < 4; next++) {
        const before = await rows.first().getAttribute('data-key-id');
        await page.getByRole('button', { name: 'Next page' }).click();
        await poll(() => rows.first().getAttribute('data-key-id')).not.toBe(before);
        await poll(() => rows.count()).toBe(PAGE_SIZE);
        for (const id of await rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-key-id')))) {
          expect(seen.has(id)).toBe(false);
          seen.add(id);
        }
      }
      await page.getByRole('button', { name: 'Previous page' }).click();
      await poll(() => page.getByText('Page 4 ·').count()).toBe(1);
      // The listing calls the console made: pages of 50 (the store reads about that many rows, by
      // index; packages/keys/test/list-keys-scale.test.ts checks the plans), cursors after page 1.
      const listings = calls.filter((call) => call.limit === PAGE_SIZE);
      expect(listings.length).toBeGreaterThanOrEqual(6);
      expect(listings.every((call) => call.returned <= PAGE_SIZE)).toBe(true);
      expect(listings.slice(1).every((call) => call.after)).toBe(true);
      // The requests carried a cursor, never an offset.
      const keyRequests = received.filter((entry) => /\/console\/api\/v1\/admin\/keys\?/.test(entry.url));
      expect(keyRequests.some((entry) => /[?&]after=/.test(entry.url))).toBe(true);
      expect(keyRequests.some((entry) => /[?&](offset|page)=/.test(entry.url))).toBe(false);
      // A search by exact key id deep in the 100,000.
      const deep = (await service.listKeys({ principal: 'bulk-4242', limit: 1 })).items[0]!;
      await page.getByLabel('Key id').fill(deep.keyId);
      await page.getByRole('button', { name: 'Search' }).click();
      await poll(() => rows.count()).toBe(1);
      expect(await rows.first().getAttribute('data-key-id')).toBe(deep.keyId);
    } finally {
      spy.mockRestore();
    }
  });

  it('reads well at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page.getByLabel('Key id').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await poll(() => page.locator('tr[data-key-id]').count()).toBe(PAGE_SIZE);
    // The page itself never scrolls sideways; wide tables scroll inside their own box.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SCREENSHOTS, '11-keys-phone.png') });
    await page.getByRole('link', { name: 'Activity' }).click();
    await page.getByTestId('health-version').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SCREENSHOTS, '12-activity-phone.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('signs out: the old session cookie is refused afterwards', async () => {
    const cookie = (await context.cookies()).find((item) => item.name === 'hmac_kit_console');
    expect(cookie).toBeDefined();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Principal name').waitFor();
    await shot('13-signed-out');
    const replay = await fetch(`${server.url}/console/api/v1/admin/keys`, {
      headers: { cookie: `${cookie?.name}=${cookie?.value}` },
    });
    expect(replay.status).toBe(401);
  });

  it('signs out a Keys page left open once the idle timeout passes: its refresh polls never keep the session alive', async () => {
    // A second server with a 5 s idle timeout (the page polls usage every 3 s): were the polls to
    // extend the session, it would never end; they are marked background, so it ends 5 s after sign-in
    // and the next poll brings the sign-in screen back. (Same browser page, after the sign-out above:
    // cookies do not tell ports apart.)
    const masterKeys = `mk-idle:${randomBytes(32).toString('base64')}`;
    const idleServer = await startServer(
      loadConfig({
        flags: { port: 0, database: ':memory:', masterKeys, logLevel: 'silent', consoleIdleTimeout: '5s' },
        env: {},
      }),
      { consoleAssets: pathToFileURL(`${assets}/`) },
    );
    const polls: Array<{ status: number; background: string | undefined }> = [];
    const watch = (response: import('playwright-core').Response) => {
      if (!response.url().startsWith(`${idleServer.url}/console/api/v1/admin/usage`)) return;
      polls.push({ status: response.status(), background: response.request().headers()['x-console-background'] });
    };
    page.on('response', watch);
    try {
      const service = idleServer.services.keyService;
      await service.createPrincipal({ name: 'root', kind: 'user', password: 'root password 1', actor: 'test' });
      await service.createKey({ principal: 'root', scopes: ['admin'], actor: 'test' });
      await page.goto(`${idleServer.url}/console/`);
      await signIn('root', 'root password 1');
      await page.getByRole('link', { name: 'Keys', exact: true }).click();
      await poll(() => page.locator('tr[data-key-id]').count()).toBe(1);
      // Left alone: the sign-in screen comes back by itself.
      await page.getByLabel('Principal name').waitFor({ timeout: 60_000 });
      // Opening the page read usage as the user's call; the refreshes after it were background,
      // and the last one was refused.
      expect(polls[0]?.background).toBeUndefined();
      expect(polls.at(-1)).toEqual({ status: 401, background: '1' });
      await shot('14-signed-out-idle');
    } finally {
      page.off('response', watch);
      await idleServer.close();
    }
  });

  it('no response to the page carried a stored secret; each new secret came once, in its creation answer', () => {
    expect(pageErrors).toEqual([]);
    expect(received.length).toBeGreaterThan(20);
    for (const secret of storedSecrets) {
      expect(received.filter((entry) => entry.body.includes(secret)).map((entry) => entry.url)).toEqual([]);
    }
    for (const [keyId, secret] of issuedSecrets) {
      const carriers = received.filter((entry) => entry.body.includes(secret));
      expect(
        carriers.map((entry) => `${entry.method} ${new URL(entry.url).pathname}`),
        keyId,
      ).toHaveLength(1);
      expect(carriers[0]?.method).toBe('POST');
      expect(carriers[0]?.url).toMatch(/\/console\/api\/v1\/admin\/keys(\/[\w]+\/rotate)?$/);
    }
    // Nothing else looks like a secret (hks_ prefix) outside those creation answers.
    const creation = /\/console\/api\/v1\/admin\/keys(\/[\w]+\/rotate)?$/;
    // (The page's own script names the prefix: it is the core's signer.)
    const others = received.filter(
      (entry) => !(entry.method === 'POST' && creation.test(entry.url)) && !entry.url.includes('/console/assets/'),
    );
    expect(others.filter((entry) => entry.body.includes('hks_')).map((entry) => entry.url)).toEqual([]);
  });
});
