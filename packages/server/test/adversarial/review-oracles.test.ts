import { type Scheme, signMessage, sigv4, xApi } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { issueKey, startInProcess } from '../support/in-process.js';

// Adversarial review of issue #11 defect 7 (helper "review") through `hmac-kit serve`, per scheme:
// an unknown key id, a revoked key and a known key with a wrong signature must answer alike
// (status, problem fields, header names, challenge), so the answer never says whether a key exists.

const WRONG_SECRET = `hks_${'A'.repeat(43)}`;

describe('adversarial review: no key-existence oracle per scheme through the server', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421,sigv4,x-api' });
  });

  afterAll(async () => {
    await server?.close();
  });

  const schemes: Array<[string, () => Scheme]> = [
    ['sigv4', () => sigv4()],
    ['x-api', () => xApi()],
  ];

  for (const [name, make] of schemes) {
    it(`${name}: unknown, revoked and wrong-signature keys answer alike`, async () => {
      const live = await issueKey(server, `oracle-${name}-live`);
      const revoked = await issueKey(server, `oracle-${name}-revoked`);
      await server.services.keyService.revokeKey(revoked.keyId, { actor: 'test' });
      const last = live.keyId.at(-1) === 'a' ? 'b' : 'a';
      const cases = {
        wrongSignature: { keyId: live.keyId, secret: WRONG_SECRET },
        unknown: { keyId: `${live.keyId.slice(0, -1)}${last}`, secret: live.secret },
        revoked,
      };
      const seen: Record<string, unknown> = {};
      for (const [label, key] of Object.entries(cases)) {
        const prepared = await signMessage(
          { method: 'GET', url: `${server.url}/v1/whoami`, headers: {} },
          { keyId: key.keyId, secret: key.secret },
          { scheme: make() },
        );
        const response = await fetch(prepared.url, {
          headers: { ...prepared.headers, 'x-forwarded-for': freshAddress() },
        });
        const body = (await response.json()) as Record<string, unknown>;
        const { instance: _instance, ...problem } = body;
        const varying = new Set(['date', 'x-request-id', 'content-length', 'keep-alive', 'connection']);
        seen[label] = {
          status: response.status,
          problem,
          headerNames: [...response.headers.keys()].filter((header) => !varying.has(header)).sort(),
          challenge: response.headers.get('www-authenticate'),
        };
      }
      expect((seen.wrongSignature as { status: number }).status).toBe(401);
      expect(seen.unknown).toEqual(seen.wrongSignature);
      expect(seen.revoked).toEqual(seen.wrongSignature);
    }, 60_000);
  }
});
