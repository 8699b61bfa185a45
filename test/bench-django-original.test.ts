// Benchmark 3's original django row (bench/django-original.js): where the original system runs is read
// from four variables, all or none, each checked with a message naming it (never echoing the secret),
// and the row is measured only once that system accepted one request signed by the benchmark's client.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseSecret } from '@hmac-kit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkedDjangoOriginal, type DjangoOriginal, djangoOriginalFrom } from '../bench/django-original.js';

const secretBytes = Buffer.alloc(32, 7);
const complete = {
  HMAC_KIT_BENCH_DJANGO_URL: 'http://127.0.0.1:8765',
  HMAC_KIT_BENCH_DJANGO_PID: String(process.pid),
  HMAC_KIT_BENCH_DJANGO_KEY_ID: '2934d529-7e58-4cd2-a40a-6cc5e54e2d49',
  HMAC_KIT_BENCH_DJANGO_SECRET: secretBytes.toString('base64'),
};

describe('djangoOriginalFrom', () => {
  it('is undefined when none of the four variables is set', () => {
    expect(djangoOriginalFrom({})).toBeUndefined();
  });

  it('names the missing variables when only some are set', () => {
    const { HMAC_KIT_BENCH_DJANGO_PID, HMAC_KIT_BENCH_DJANGO_SECRET, ...partial } = complete;
    expect(() => djangoOriginalFrom(partial)).toThrow(
      /set without HMAC_KIT_BENCH_DJANGO_PID, HMAC_KIT_BENCH_DJANGO_SECRET: the original django row needs all four/,
    );
  });

  it.each([
    ['HMAC_KIT_BENCH_DJANGO_URL', 'not a url', /HMAC_KIT_BENCH_DJANGO_URL: expected an http:\/\/ origin/],
    ['HMAC_KIT_BENCH_DJANGO_URL', 'https://127.0.0.1:8765', /HMAC_KIT_BENCH_DJANGO_URL/],
    ['HMAC_KIT_BENCH_DJANGO_PID', '-3', /HMAC_KIT_BENCH_DJANGO_PID: expected the gunicorn master process id/],
    ['HMAC_KIT_BENCH_DJANGO_PID', '12ab', /HMAC_KIT_BENCH_DJANGO_PID/],
    ['HMAC_KIT_BENCH_DJANGO_SECRET', 'c2hvcnQ=', /HMAC_KIT_BENCH_DJANGO_SECRET: expected the base64 secret/],
    ['HMAC_KIT_BENCH_DJANGO_SECRET', `${secretBytes.toString('base64')}!!`, /HMAC_KIT_BENCH_DJANGO_SECRET/],
  ])('refuses %s=%s with a message naming it', (name, value, message) => {
    let thrown: unknown;
    try {
      djangoOriginalFrom({ ...complete, [name]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(message);
    if (name === 'HMAC_KIT_BENCH_DJANGO_SECRET') expect((thrown as Error).message).not.toContain(value);
  });

  it("reads the server, its key, and the secret's raw bytes in hmac-kit's printable form", () => {
    const original = djangoOriginalFrom({
      ...complete,
      HMAC_KIT_BENCH_DJANGO_URL: 'http://127.0.0.1:8765/ignored',
    }) as DjangoOriginal;
    expect(original).toMatchObject({ url: 'http://127.0.0.1:8765', pid: process.pid, tree: true });
    expect(original.keyId).toBe(complete.HMAC_KIT_BENCH_DJANGO_KEY_ID);
    expect(Buffer.from(parseSecret(original.secret))).toEqual(secretBytes);
  });
});

describe('checkedDjangoOriginal', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A stand-in for the original system answering `status`; records the requests it got. */
  async function answering(status: number) {
    const seen: { method?: string; url?: string; authorization?: string; body: string }[] = [];
    server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, authorization: request.headers.authorization, body });
        response
          .writeHead(status, { 'content-type': 'application/json' })
          .end('{"detail":"Signature verification failed."}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const original = djangoOriginalFrom({ ...complete, HMAC_KIT_BENCH_DJANGO_URL: `http://127.0.0.1:${port}` });
    if (original === undefined) throw new Error('expected an original row');
    return { original, seen };
  }

  it('resolves once the system accepted one request signed in the django scheme with the key given', async () => {
    const { original, seen } = await answering(200);
    await expect(checkedDjangoOriginal(original)).resolves.toBe(original);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.authorization).toMatch(
      new RegExp(`^HMAC-SHA256 ${complete.HMAC_KIT_BENCH_DJANGO_KEY_ID};[A-Za-z0-9+/]{43}=;\\d{4}-\\d\\d-\\d\\dT`),
    );
    expect(JSON.parse(seen[0]?.body ?? '')).toHaveProperty('items');
  });

  it('rejects with the status and answer when the system refuses the signed request', async () => {
    const { original } = await answering(403);
    await expect(checkedDjangoOriginal(original)).rejects.toThrow(
      /refused a signed request: 403 \{"detail":"Signature verification failed\."\}/,
    );
  });

  it('rejects when no process has the pid given', async () => {
    const { original } = await answering(200);
    // Past Linux's pid_max (2^22): no process has it.
    await expect(checkedDjangoOriginal({ ...original, pid: 2 ** 23 })).rejects.toThrow(
      `HMAC_KIT_BENCH_DJANGO_PID=${2 ** 23}: no such process`,
    );
  });
});

it('bench/http.js stops with one line and exit code 2 when the variables are incomplete', () => {
  const script = fileURLToPath(new URL('../bench/http.js', import.meta.url));
  const run = spawnSync(process.execPath, [script, '--quick'], {
    env: { ...process.env, HMAC_KIT_BENCH_DJANGO_URL: 'http://127.0.0.1:8765' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status).toBe(2);
  expect(run.stderr.trim().split('\n')).toEqual([
    expect.stringMatching(/^bench\/http\.js: HMAC_KIT_BENCH_DJANGO_URL set without HMAC_KIT_BENCH_DJANGO_PID/),
  ]);
  expect(run.stdout).toBe('');
});
