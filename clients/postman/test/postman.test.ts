// The Postman pre-request script (clients/postman/pre-request.js), run under Node in a vm with a
// small `pm` shim and the CryptoJS that Postman ships (crypto-js): profile vectors first, then
// the requests it prepares are sent to a live verifying server.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientCases,
  type Echo,
  type LiveServer,
  sha256Hex,
  startLiveServer,
} from '../../../test-support/clients/harness.js';
import { coreVectorJobs, postmanInputFor, trickyUrlJobs } from '../../../test-support/clients/vectors.js';

const SCRIPT = readFileSync(new URL('../pre-request.js', import.meta.url), 'utf8');
const requireFromHere = createRequire(import.meta.url);

interface PostmanInput {
  method: string;
  url: string;
  headers?: [string, string][];
  body?: string;
  variables: Record<string, string>;
}

interface PostmanOutput {
  url: string;
  headers: Record<string, string>;
  logs: string[];
}

/** Runs the pre-request script the way Postman's sandbox does, with the parts of `pm` it uses. */
function runPreRequest(input: PostmanInput): PostmanOutput {
  let url = input.url;
  const headers: { key: string; value: string; disabled?: boolean }[] = (input.headers ?? []).map(([key, value]) => ({
    key,
    value,
  }));
  const replaceIn = (text: string) =>
    text.replace(/\{\{([^}]+)\}\}/g, (_, name: string) => input.variables[name] ?? '');
  const pm = {
    variables: { get: (name: string) => input.variables[name], replaceIn },
    request: {
      method: input.method,
      url: {
        toString: () => url,
        update: (next: string) => {
          url = next;
        },
      },
      headers: {
        all: () => headers,
        upsert: ({ key, value }: { key: string; value: string }) => {
          const existing = headers.find((h) => h.key.toLowerCase() === key.toLowerCase());
          if (existing) existing.value = value;
          else headers.push({ key, value });
        },
      },
      body: input.body === undefined ? undefined : { mode: 'raw', raw: input.body, isEmpty: () => input.body === '' },
    },
  };
  const logs: string[] = [];
  const sandboxRequire = (name: string) => {
    if (name !== 'crypto-js') throw new Error(`the Postman sandbox has no ${name} here`);
    return requireFromHere('crypto-js');
  };
  runInNewContext(SCRIPT, { pm, require: sandboxRequire, console: { log: (line: string) => logs.push(line) } });
  return { url, headers: Object.fromEntries(headers.map((h) => [h.key, h.value])), logs };
}

describe('postman pre-request script: known answers', () => {
  it('reproduces every hmac-kit profile vector it supports (signature base and signature)', async () => {
    const { jobs, expected } = await coreVectorJobs();
    let checked = 0;
    for (const [i, job] of jobs.entries()) {
      const input = postmanInputFor(job);
      if (typeof input === 'string') {
        console.info(`[postman] vector ${i} not applicable: ${input}`);
        continue;
      }
      const want = expected[i]!;
      if ('error' in want) {
        expect(() => runPreRequest(input)).toThrow();
        continue;
      }
      const out = runPreRequest(input);
      expect(out.logs).toEqual([`hmac-kit signature base:\n${want.signature_base}`]);
      expect(out.url).toBe(want.url);
      for (const [name, value] of Object.entries(want.headers)) expect(out.headers[name]).toBe(value);
      checked++;
    }
    expect(checked).toBe(jobs.length);
  });

  it('normalises URLs as users type them exactly like the core signer (WHATWG URL)', async () => {
    const { jobs, expected } = await trickyUrlJobs();
    for (const [i, job] of jobs.entries()) {
      const input = postmanInputFor(job);
      if (typeof input === 'string') throw new Error(input);
      const want = expected[i]!;
      if ('error' in want) throw new Error(want.error);
      const out = runPreRequest(input);
      expect(out.url).toBe(want.url);
      expect(out.logs).toEqual([`hmac-kit signature base:\n${want.signature_base}`]);
      for (const [name, value] of Object.entries(want.headers)) expect(out.headers[name]).toBe(value);
    }
  });

  it('refuses bodies it cannot digest (form-data) with a clear error', () => {
    const input: PostmanInput = {
      method: 'POST',
      url: 'https://api.example.com/upload',
      variables: { hmacKitKeyId: 'hk_x', hmacKitSecret: `hks_${'A'.repeat(43)}` },
    };
    const script = () =>
      runInNewContext(SCRIPT, {
        pm: {
          variables: { get: (n: string) => input.variables[n], replaceIn: (s: string) => s },
          request: {
            method: 'POST',
            url: { toString: () => input.url, update: () => {} },
            headers: { all: () => [], upsert: () => {} },
            body: { mode: 'formdata', isEmpty: () => false },
          },
        },
        require: () => requireFromHere('crypto-js'),
        console: { log: () => {} },
      });
    expect(script).toThrow(/formdata bodies cannot be signed/);
  });
});

describe('postman pre-request script: live server', () => {
  let server: LiveServer;
  beforeAll(async () => {
    server = await startLiveServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('the importable collection carries this exact script, and its requests pass the gateway', async () => {
    const collection = JSON.parse(
      readFileSync(new URL('../hmac-kit.postman_collection.json', import.meta.url), 'utf8'),
    ) as {
      event: { listen: string; script: { exec: string[] } }[];
      item: {
        request: { method: string; url: string; header?: { key: string; value: string }[]; body?: { raw: string } };
      }[];
    };
    // Out of date? node clients/postman/build-collection.mjs
    expect(collection.event.find((e) => e.listen === 'prerequest')?.script.exec.join('\n')).toBe(SCRIPT);
    for (const { request } of collection.item) {
      const prepared = runPreRequest({
        method: request.method,
        url: request.url,
        headers: (request.header ?? []).map((h) => [h.key, h.value]),
        body: request.body?.raw,
        variables: { baseUrl: server.origin, hmacKitKeyId: server.keyId, hmacKitSecret: server.secret },
      });
      const response = await fetch(prepared.url, {
        method: request.method,
        headers: prepared.headers,
        body: request.body?.raw,
      });
      expect(response.status, await response.clone().text()).toBe(200);
      expect(((await response.json()) as Echo).keyId).toBe(server.keyId);
    }
  });

  for (const testCase of clientCases) {
    it(`signed request is accepted: ${testCase.name}`, async () => {
      const body = testCase.body ? new TextDecoder().decode(testCase.body) : undefined;
      const prepared = runPreRequest({
        method: testCase.method,
        url: `{{baseUrl}}${testCase.pathAndQuery}`,
        headers: testCase.contentType ? [['Content-Type', testCase.contentType]] : [],
        body,
        variables: { baseUrl: server.origin, hmacKitKeyId: server.keyId, hmacKitSecret: server.secret },
      });
      // What Postman then does: send the (variable-resolved) request as prepared.
      const response = await fetch(prepared.url, {
        method: testCase.method,
        headers: prepared.headers,
        body: body ?? (['POST', 'PUT', 'PATCH'].includes(testCase.method) ? '' : undefined),
      });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      const echo = JSON.parse(text) as Echo;
      expect(echo.target).toBe(testCase.expectedTarget);
      expect(echo.bodySha256).toBe(sha256Hex(testCase.body ?? new Uint8Array()));
    });
  }
});
