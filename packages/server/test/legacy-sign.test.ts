/**
 * The signing side of declared schemes (what `hmac-kit request --config` uses) against the verifier,
 * for every declared scheme of every examples/legacy/*.json, loaded as `hmac-kit serve` loads it:
 * a signed request is accepted, a copy signed with another secret is refused, and where the scheme
 * signs the body, a changed body is refused. New example files are picked up without editing this.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { declarativeScheme, type MessageParts, verifyMessage } from '@hmac-kit/core';
import { loadConfig } from '@hmac-kit/server';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test-support/processes.js';

const dir = join(repoRoot, 'examples/legacy');
const files = readdirSync(dir).filter((file) => file.endsWith('.json'));
const secret = new TextEncoder().encode('secret-key-for-legacy-signing');

describe('declared schemes of examples/legacy: signed by the core, verified by the core', () => {
  it('finds the ready-made declared schemes', () => {
    const declared = files.flatMap((file) => loadConfig({ configFile: join(dir, file), env: {} }).legacySchemes ?? []);
    expect(declared.map((definition) => definition.name).sort()).toEqual(
      expect.arrayContaining([
        'authorization-hmac',
        'x-api-shared-secret',
        'x-hmac-signature',
        'x-hmac-signature-body',
      ]),
    );
  });

  for (const file of files) {
    const definitions = loadConfig({ configFile: join(dir, file), env: {} }).legacySchemes ?? [];
    for (const definition of definitions) {
      it(`${file}: ${definition.name}`, async () => {
        const scheme = declarativeScheme(definition);
        const keyId = 'fixed' in definition.keyId ? definition.keyId.fixed : 'billing-service';
        const now = Math.floor(Date.now() / 1000);
        const body = new TextEncoder().encode(
          JSON.stringify({ mac_address: '12:34:56:78:9a:bc', timestamp: now, device: "O'Brien", reading: 21.5 }),
        );
        const url = 'https://legacy.example/verify';
        const headers = { 'content-type': 'application/json' };
        const sign = async (key: Uint8Array, signedBody: Uint8Array): Promise<MessageParts> => {
          const signed = await scheme.sign({ method: 'POST', url, headers, body: signedBody }, { keyId, secret: key });
          return { method: 'POST', url, headers: { ...headers, ...signed.headers } };
        };
        const keys = (id: string) => (id === keyId ? { keyId: id, secret, algorithm: 'sha256' as const } : undefined);
        const verify = (message: MessageParts, sent: Uint8Array) =>
          verifyMessage(message, sent, { keys, schemes: [scheme] }).then(
            (verified) => verified.scheme,
            (error: { code?: string }) => error.code,
          );

        expect(await verify(await sign(secret, body), body)).toBe(definition.name);
        const other = new TextEncoder().encode('another-secret');
        expect(await verify(await sign(other, body), body)).toBe('ERR_SIGNATURE_INVALID');
        const signsBody = definition.message.some((part) => part === 'body' || part === 'python-str');
        if (signsBody) {
          const changed = new TextEncoder().encode(new TextDecoder().decode(body).replace('21.5', '99.5'));
          expect(await verify(await sign(secret, body), changed)).toBe('ERR_SIGNATURE_INVALID');
        }
      });
    }
  }
});
