import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { startInProcess } from '../support/in-process.js';

// Adversarial review of the console session layer (helper "review"): session fixation — an attacker
// who planted a cookie value in the victim's browser must not share the session the victim then
// opens — and a sign-in answer that never carries the session id where the page could read it.

describe('adversarial review: console session fixation', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess({});
    await server.services.keyService.createPrincipal({
      name: 'root',
      kind: 'user',
      password: 'root password',
      actor: 'test',
    });
    await server.services.keyService.createKey({ principal: 'root', scopes: ['admin'], actor: 'test' });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('signing in with a planted cookie issues a new session id; the planted one stays signed out', async () => {
    const planted = `hmac_kit_console=${'P'.repeat(43)}`;
    const address = freshAddress();
    const answer = await fetch(`${server.url}/console/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: planted, 'x-forwarded-for': address },
      body: JSON.stringify({ username: 'root', password: 'root password' }),
    });
    expect(answer.status).toBe(201);
    const setCookie = answer.headers.get('set-cookie') ?? '';
    const issued = setCookie.split(';')[0] ?? '';
    expect(issued).toMatch(/^hmac_kit_console=[\w-]{43}$/);
    expect(issued).not.toBe(planted);
    expect(await answer.text()).not.toContain(issued.split('=')[1]);
    const withPlanted = await fetch(`${server.url}/console/api/session`, {
      headers: { cookie: planted, 'x-forwarded-for': address },
    });
    expect(withPlanted.status).toBe(401);
    const withIssued = await fetch(`${server.url}/console/api/session`, {
      headers: { cookie: issued, 'x-forwarded-for': address },
    });
    expect(withIssued.status).toBe(200);
  });
});
