import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RunningServer } from '@hmac-kit/server';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freshAddress, signed } from '../../../test-support/cli-client.js';
import { refusedPort } from '../../../test-support/ports.js';
import { repoRoot } from '../../../test-support/processes.js';
import { OPENAPI_FILE } from '../src/openapi.js';
import { ANY_METHOD } from '../src/routes.js';
import { issueKey, startInProcess } from './support/in-process.js';

// The contract between docs/openapi.yaml and `hmac-kit serve`, both ways: every route the router
// answers is documented, every documented operation exists, and a real request to each documented
// operation gets a documented status, content type, headers and a body valid against its schema.

type Json = Record<string, unknown>;
const HTTP_METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options', 'trace'] as const;
/** What an `ANY` route must document: the methods signed API requests use. */
const SIGNED_METHODS = ['get', 'post', 'put', 'patch', 'delete'];

const document = parse(readFileSync(OPENAPI_FILE, 'utf8'), { merge: true }) as Json & {
  paths: Record<string, Record<string, Json>>;
};

/** Every operation of the document: `method path` -> operation. */
function documentedOperations(): Map<string, Json & { operationId: string }> {
  const operations = new Map<string, Json & { operationId: string }>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as (Json & { operationId: string }) | undefined;
      if (operation) operations.set(`${method.toUpperCase()} ${path}`, operation);
    }
  }
  return operations;
}

/** Follows local `$ref`s; returns the object and its JSON pointer (for Ajv references). */
function resolve(value: Json, pointer: string): [Json, string] {
  let current = value;
  let where = pointer;
  while (typeof current.$ref === 'string') {
    where = current.$ref.slice(1);
    current = where
      .split('/')
      .slice(1)
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<Json>((node, part) => node[part] as Json, document);
  }
  return [current, where];
}

const pointerPart = (text: string) => text.replace(/~/g, '~0').replace(/\//g, '~1');

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(document, 'openapi');
const validators = new Map<string, ValidateFunction>();
function validatorAt(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (!validate) {
    validate = ajv.compile({ $ref: `openapi#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** `type/subtype; a=b` -> parts, lowercased. */
function mediaType(text: string): { essence: string; parameters: string[] } {
  const [essence = '', ...parameters] = text.split(';').map((part) => part.trim().toLowerCase());
  return { essence, parameters: parameters.filter(Boolean).map((parameter) => parameter.replace(/\s/g, '')) };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** Checks one real answer against the operation's documented responses; returns what was wrong. */
function conformance(operationKey: string, operation: Json, answer: Answer): string[] {
  const problems: string[] = [];
  const responses = operation.responses as Record<string, Json>;
  const documented = responses[String(answer.status)];
  if (!documented)
    return [`${operationKey}: status ${answer.status} is not documented (body ${answer.text.slice(0, 200)})`];
  const [response, responsePointer] = resolve(
    documented,
    `/paths/${pointerPart(operationKey.split(' ')[1] as string)}/${operationKey.split(' ')[0]?.toLowerCase()}/responses/${answer.status}`,
  );
  for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const [resolved] = resolve(header, '');
    if (resolved.required && !answer.headers.has(name))
      problems.push(`${operationKey} ${answer.status}: header ${name} missing`);
  }
  const content = response.content as Record<string, Json> | undefined;
  if (!content) {
    if (answer.text !== '') problems.push(`${operationKey} ${answer.status}: documented without a body, got one`);
    return problems;
  }
  const received = mediaType(answer.headers.get('content-type') ?? '');
  const match = Object.keys(content).find((key) => {
    const wanted = mediaType(key);
    return wanted.essence === received.essence && wanted.parameters.every((p) => received.parameters.includes(p));
  });
  if (!match) {
    problems.push(
      `${operationKey} ${answer.status}: content type ${received.essence} not documented (${Object.keys(content)})`,
    );
    return problems;
  }
  const body = received.essence.endsWith('json') ? JSON.parse(answer.text) : answer.text;
  const schemaPointer = `${responsePointer}/content/${pointerPart(match)}/schema`;
  const validate = validatorAt(schemaPointer);
  if (!validate(body)) {
    problems.push(
      `${operationKey} ${answer.status}: body does not match ${schemaPointer}: ${ajv.errorsText(validate.errors)}`,
    );
  }
  return problems;
}

describe('docs/openapi.yaml', () => {
  it('passes `redocly lint` (the recommended rules, redocly.yaml)', () => {
    const result = spawnSync(
      process.execPath,
      [
        fileURLToPath(new URL('node_modules/@redocly/cli/bin/cli.js', `file://${repoRoot}`)),
        'lint',
        'docs/openapi.yaml',
      ],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    );
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
  });
});

describe('the OpenAPI description against the running server', () => {
  let server: RunningServer;
  /** A server whose Redis is unreachable (503s) and that trusts no local proxy (forward-auth 403). */
  let degraded: RunningServer;
  let admin: Awaited<ReturnType<typeof issueKey>>;
  let alice: Awaited<ReturnType<typeof issueKey>>;
  let limitedKey: Awaited<ReturnType<typeof issueKey>>;
  let degradedKey: Awaited<ReturnType<typeof issueKey>>;
  const operations = documentedOperations();
  /** operation key (`METHOD /path`) -> statuses a test request got. */
  const exercised = new Map<string, Set<number>>();
  const problems: string[] = [];

  beforeAll(async () => {
    server = await startInProcess({
      schemes: 'rfc9421,sigv4,x-api,django-hmac,standard-webhooks',
      maxBody: '1kb',
      maxKeys: 2,
    });
    degraded = await startInProcess({
      redis: `redis://127.0.0.1:${await refusedPort()}`,
      trustedProxies: '10.255.255.1',
    });
    admin = await issueKey(server, 'root', ['admin']);
    alice = await issueKey(server, 'alice', ['orders:read']);
    const limited = await server.services.keyService.createKey({
      principal: 'alice',
      rateLimit: { limit: 1, windowSeconds: 3600 },
      actor: 'test',
    });
    limitedKey = { keyId: limited.key.keyId, secret: limited.secret, principal: 'alice', scopes: [] };
    // Principals that log in with a password: one per login scenario, so none limits another.
    for (const name of ['login-user', 'throttled', 'django-user', 'full']) {
      await server.services.keyService.createPrincipal({
        name,
        kind: 'user',
        password: 'correct horse',
        actor: 'test',
      });
    }
    degradedKey = await issueKey(degraded, 'bob');
  });

  afterAll(async () => {
    await Promise.all([server?.close(), degraded?.close()]);
  });

  /** Sends one request, checks it against `operation` (`METHOD /documented/path`), records the status. */
  async function call(
    operationKey: string,
    request: { url: string; init?: RequestInit & { headers?: Record<string, string> } },
  ): Promise<Answer> {
    const operation = operations.get(operationKey);
    if (!operation) throw new Error(`test names an undocumented operation ${operationKey}`);
    const response = await fetch(request.url, {
      ...request.init,
      headers: { 'x-forwarded-for': freshAddress(), ...request.init?.headers },
    });
    const answer = { status: response.status, headers: response.headers, text: await response.text() };
    problems.push(...conformance(operationKey, operation, answer));
    const statuses = exercised.get(operationKey) ?? new Set();
    statuses.add(answer.status);
    exercised.set(operationKey, statuses);
    return answer;
  }

  const headersOf = (request: { init: { headers: Record<string, string> } }): Record<string, string> =>
    request.init.headers;
  const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  /** A request signed by `key` for `method path` (RFC 9421, with a nonce). */
  const sign = (
    key: { keyId: string; secret: string },
    method: string,
    path: string,
    body?: unknown,
    base = server.url,
  ) => signed(key, method, `${base}${path}`, body === undefined ? {} : { body: JSON.stringify(body) });

  it('documents every route the router answers, and nothing else', () => {
    const expected = new Set<string>();
    for (const route of server.routes) {
      const path = route.path.replace(/\{(\w+)\+\}/g, '{$1}');
      const methods = route.methods.includes(ANY_METHOD) ? SIGNED_METHODS : route.methods.map((m) => m.toLowerCase());
      for (const method of methods) expected.add(`${method.toUpperCase()} ${path}`);
    }
    const undocumented = [...expected].filter((key) => !operations.has(key));
    const stale = [...operations.keys()].filter((key) => !expected.has(key));
    expect({ undocumented, stale }).toEqual({ undocumented: [], stale: [] });
  });

  it('serves the description at /openapi.json, identical to docs/openapi.yaml', async () => {
    const answer = await call('GET /openapi.json', { url: `${server.url}/openapi.json` });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual(document);
  });

  it('operations: health, readiness, metrics', async () => {
    expect((await call('GET /healthz', { url: `${server.url}/healthz` })).status).toBe(200);
    expect((await call('HEAD /healthz', { url: `${server.url}/healthz`, init: { method: 'HEAD' } })).status).toBe(200);
    expect((await call('GET /healthz', { url: `${server.url}/healthz`, init: { method: 'DELETE' } })).status).toBe(405);
    expect((await call('GET /readyz', { url: `${server.url}/readyz` })).status).toBe(200);
    expect((await call('HEAD /readyz', { url: `${server.url}/readyz`, init: { method: 'HEAD' } })).status).toBe(200);
    expect((await call('GET /readyz', { url: `${degraded.url}/readyz` })).status).toBe(503);
    expect((await call('HEAD /readyz', { url: `${degraded.url}/readyz`, init: { method: 'HEAD' } })).status).toBe(503);
    expect((await call('GET /metrics', { url: `${server.url}/metrics` })).status).toBe(200);
    expect((await call('GET /metrics', { url: `${server.url}/metrics`, init: { method: 'POST' } })).status).toBe(405);
    expect(
      (await call('GET /openapi.json', { url: `${server.url}/openapi.json`, init: { method: 'PUT' } })).status,
    ).toBe(405);
  });

  it('whoami: every method, and each way a signed request is refused', async () => {
    expect((await call('GET /v1/whoami', await sign(alice, 'GET', '/v1/whoami'))).status).toBe(200);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const body = method === 'DELETE' ? undefined : { n: 1 };
      const answer = await call(`${method} /v1/whoami`, await sign(alice, method, '/v1/whoami', body));
      expect(answer.status, method).toBe(200);
    }
    expect((await call('GET /v1/whoami', { url: `${server.url}/v1/whoami` })).status).toBe(401);
    const malformed = { 'signature-input': 'sig1=(', signature: 'sig1=:AAAA:' };
    expect(
      (await call('GET /v1/whoami', { url: `${server.url}/v1/whoami`, init: { headers: malformed } })).status,
    ).toBe(400);
    expect(
      (await call('POST /v1/whoami', await sign(alice, 'POST', '/v1/whoami', { pad: 'x'.repeat(2048) }))).status,
    ).toBe(413);
    expect((await call('GET /v1/whoami', await sign(limitedKey, 'GET', '/v1/whoami'))).status).toBe(200);
    expect((await call('GET /v1/whoami', await sign(limitedKey, 'GET', '/v1/whoami'))).status).toBe(429);
    const down = await sign(degradedKey, 'GET', '/v1/whoami', undefined, degraded.url);
    expect((await call('GET /v1/whoami', down)).status).toBe(503);
  });

  it('forward-auth (nginx / Traefik headers and the Envoy path): every method, refusals', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const original = await sign(
        alice,
        method,
        '/orders/42?x=1',
        method === 'GET' || method === 'DELETE' ? undefined : {},
      );
      const headers: Record<string, string> = {
        ...headersOf(original),
        'x-original-uri': '/orders/42?x=1',
        'x-original-method': method,
      };
      delete headers['content-type'];
      const viaHeaders = await call(`${method} /verify`, { url: `${server.url}/verify`, init: { method, headers } });
      expect(viaHeaders.status, `${method} /verify`).toBe(200);
      expect(viaHeaders.headers.get('x-authenticated-key-id')).toBe(alice.keyId);

      const envoy = await sign(alice, method, '/orders/7', method === 'GET' || method === 'DELETE' ? undefined : {});
      const envoyHeaders: Record<string, string> = { ...headersOf(envoy) };
      delete envoyHeaders['content-type'];
      const viaPath = await call(`${method} /verify/{originalPath}`, {
        url: `${server.url}/verify/orders/7`,
        init: { method, headers: envoyHeaders },
      });
      expect(viaPath.status, `${method} /verify/...`).toBe(200);
    }
    expect((await call('GET /verify', { url: `${server.url}/verify` })).status).toBe(400);
    const unsigned = { 'x-original-uri': '/orders/1' };
    expect((await call('GET /verify', { url: `${server.url}/verify`, init: { headers: unsigned } })).status).toBe(401);
    expect((await call('GET /verify', { url: `${degraded.url}/verify`, init: { headers: unsigned } })).status).toBe(
      403,
    );
    const limited = await sign(limitedKey, 'GET', '/orders/1');
    const limitedHeaders = { ...headersOf(limited), 'x-original-uri': '/orders/1' };
    expect((await call('GET /verify', { url: `${server.url}/verify`, init: { headers: limitedHeaders } })).status).toBe(
      429,
    );
    const down = await sign(degradedKey, 'GET', '/orders/1', undefined, degraded.url);
    const downHeaders = { ...headersOf(down), 'x-original-uri': '/orders/1' };
    // The degraded server trusts no local proxy: 403 before any store is asked.
    expect((await call('GET /verify', { url: `${degraded.url}/verify`, init: { headers: downHeaders } })).status).toBe(
      403,
    );
  });

  it('logins: POST /v1/keys and the django-hmac obtain endpoint', async () => {
    const login = (username: string, password: string) => ({ method: 'POST', ...json({ username, password }) });
    expect(
      (await call('POST /v1/keys', { url: `${server.url}/v1/keys`, init: login('login-user', 'correct horse') }))
        .status,
    ).toBe(201);
    expect(
      (await call('POST /v1/keys', { url: `${server.url}/v1/keys`, init: login('login-user', 'wrong') })).status,
    ).toBe(401);
    expect(
      (
        await call('POST /v1/keys', {
          url: `${server.url}/v1/keys`,
          init: { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } },
        })
      ).status,
    ).toBe(400);
    const oversized = login('login-user', 'x'.repeat(70_000));
    expect((await call('POST /v1/keys', { url: `${server.url}/v1/keys`, init: oversized })).status).toBe(413);
    expect((await call('POST /v1/keys', { url: `${server.url}/v1/keys` })).status).toBe(405);
    // maxKeys is 2: the third login of one principal is refused.
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      statuses.push(
        (await call('POST /v1/keys', { url: `${server.url}/v1/keys`, init: login('full', 'correct horse') })).status,
      );
    }
    expect(statuses).toEqual([201, 201, 409]);
    // Five wrong passwords from one address: that address is blocked (never the user everywhere).
    const from = { 'x-forwarded-for': '192.0.2.55' };
    let last = 0;
    for (let attempt = 0; attempt < 6 && last !== 429; attempt++) {
      const init = { ...login('throttled', 'wrong'), headers: { ...login('throttled', 'wrong').headers, ...from } };
      last = (await call('POST /v1/keys', { url: `${server.url}/v1/keys`, init })).status;
    }
    expect(last).toBe(429);
    const down = await call('POST /v1/keys', { url: `${degraded.url}/v1/keys`, init: login('nobody', 'whatever') });
    expect(down.status).toBe(503);

    const obtain = `${server.url}/obtain-hmac-api-key/`;
    expect(
      (await call('POST /obtain-hmac-api-key/', { url: obtain, init: login('login-user', 'correct horse') })).status,
    ).toBe(200);
    const form = {
      method: 'POST',
      body: new URLSearchParams({ username: 'django-user', password: 'correct horse' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    };
    expect((await call('POST /obtain-hmac-api-key/', { url: obtain, init: form })).status).toBe(200);
    // A page of another site (its browser says so): refused before any password check.
    const crossSite = { ...form, headers: { ...form.headers, 'sec-fetch-site': 'cross-site' } };
    expect((await call('POST /obtain-hmac-api-key/', { url: obtain, init: crossSite })).status).toBe(403);
    expect((await call('POST /v1/keys', { url: `${server.url}/v1/keys`, init: crossSite })).status).toBe(403);
    expect((await call('POST /obtain-hmac-api-key/', { url: obtain, init: login('login-user', 'wrong') })).status).toBe(
      401,
    );
  });

  it('admin API: every call, signed by an admin key, and its refusals', async () => {
    const adminCall = async (operationKey: string, method: string, path: string, body?: unknown) =>
      (await call(operationKey, await sign(admin, method, path, body))).status;
    expect(
      await adminCall('POST /v1/admin/principals', 'POST', '/v1/admin/principals', { name: 'carol', kind: 'user' }),
    ).toBe(201);
    expect(await adminCall('POST /v1/admin/principals', 'POST', '/v1/admin/principals', { name: 'carol' })).toBe(409);
    expect(await adminCall('POST /v1/admin/principals', 'POST', '/v1/admin/principals', { nom: 'x' })).toBe(400);
    expect(await adminCall('GET /v1/admin/principals', 'GET', '/v1/admin/principals')).toBe(200);
    expect(await adminCall('GET /v1/admin/principals/{name}', 'GET', '/v1/admin/principals/carol')).toBe(200);
    expect(await adminCall('GET /v1/admin/principals/{name}', 'GET', '/v1/admin/principals/nobody')).toBe(404);
    expect(
      await adminCall('POST /v1/admin/principals/{name}/disable', 'POST', '/v1/admin/principals/carol/disable'),
    ).toBe(200);
    expect(
      await adminCall('POST /v1/admin/principals/{name}/enable', 'POST', '/v1/admin/principals/carol/enable'),
    ).toBe(200);
    const password = { password: 'a long password' };
    expect(
      await adminCall(
        'PUT /v1/admin/principals/{name}/password',
        'PUT',
        '/v1/admin/principals/carol/password',
        password,
      ),
    ).toBe(200);
    expect(
      await adminCall('POST /v1/admin/principals/{name}/password', 'POST', '/v1/admin/principals/carol/password', {
        password: null,
      }),
    ).toBe(200);
    const created = await call(
      'POST /v1/admin/keys',
      await sign(admin, 'POST', '/v1/admin/keys', { principal: 'carol', scopes: ['a'], label: 'l', expiresIn: '1d' }),
    );
    expect(created.status).toBe(201);
    const keyId = (JSON.parse(created.text) as { keyId: string }).keyId;
    expect(await adminCall('GET /v1/admin/keys', 'GET', '/v1/admin/keys?principal=carol&all=true')).toBe(200);
    expect(await adminCall('GET /v1/admin/keys', 'DELETE', '/v1/admin/keys')).toBe(405);
    expect(await adminCall('GET /v1/admin/keys/{keyId}', 'GET', `/v1/admin/keys/${keyId}`)).toBe(200);
    expect(await adminCall('GET /v1/admin/keys/{keyId}', 'GET', '/v1/admin/keys/hk_nosuchkey000000000000')).toBe(404);
    expect(
      await adminCall('POST /v1/admin/keys/{keyId}/rotate', 'POST', `/v1/admin/keys/${keyId}/rotate`, {
        overlap: '1h',
      }),
    ).toBe(201);
    expect(
      await adminCall('POST /v1/admin/keys/{keyId}/revoke', 'POST', `/v1/admin/keys/${keyId}/revoke`, {
        reason: 'test',
      }),
    ).toBe(200);
    expect(
      await adminCall('POST /v1/admin/keys/import', 'POST', '/v1/admin/keys/import', {
        principal: 'carol',
        keyId: 'carol-legacy',
        secret: 'c2VjcmV0LWtleQ==',
        encoding: 'base64',
        algorithm: 'any',
      }),
    ).toBe(201);
    expect(
      await adminCall('POST /v1/admin/keys/import', 'POST', '/v1/admin/keys/import', {
        principal: 'carol',
        keyId: 'carol-legacy',
        secret: 'x',
      }),
    ).toBe(409);
    expect(await adminCall('GET /v1/admin/audit', 'GET', '/v1/admin/audit?limit=5')).toBe(200);
    expect(await adminCall('GET /v1/admin/usage', 'GET', '/v1/admin/usage?limit=5&scheme=rfc9421')).toBe(200);
    expect(await adminCall('GET /v1/admin/usage', 'GET', '/v1/admin/usage?limit=0')).toBe(400);
    // Refusals: unsigned, signed without the admin scope, a body over --max-body.
    expect((await call('GET /v1/admin/principals', { url: `${server.url}/v1/admin/principals` })).status).toBe(401);
    expect((await call('GET /v1/admin/principals', await sign(alice, 'GET', '/v1/admin/principals'))).status).toBe(403);
    const big = await sign(admin, 'POST', '/v1/admin/principals', { name: 'x'.repeat(2048) });
    expect((await call('POST /v1/admin/principals', big)).status).toBe(413);
    // A body that does not say it is JSON (what a cross-site page can send without a preflight).
    const plain = await signed(admin, 'POST', `${server.url}/v1/admin/principals`, {
      body: JSON.stringify({ name: 'plain' }),
      headers: { 'content-type': 'text/plain' },
    });
    expect((await call('POST /v1/admin/principals', plain)).status).toBe(415);
  });

  it('every documented operation was exercised, every answer matched the description', () => {
    expect(problems).toEqual([]);
    const untested = [...operations.keys()].filter((key) => !exercised.has(key));
    expect(untested).toEqual([]);
    // Each operation was seen succeeding at least once.
    const neverSucceeded = [...exercised].filter(([, statuses]) => ![...statuses].some((s) => s >= 200 && s < 300));
    expect(neverSucceeded.map(([key]) => key)).toEqual([]);
    // Every status code the description names was produced by some real request.
    const documentedStatuses = new Set<number>();
    for (const operation of operations.values()) {
      for (const status of Object.keys(operation.responses as Json)) documentedStatuses.add(Number(status));
    }
    const seen = new Set([...exercised.values()].flatMap((statuses) => [...statuses]));
    expect([...documentedStatuses].filter((status) => !seen.has(status)).sort()).toEqual([]);
  });
});
