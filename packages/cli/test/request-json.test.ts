/**
 * `hmac-kit request --json <data>`, as curl's `--json` (session 26, helper review26): the admin API
 * takes only JSON bodies (415 for anything else, fix26), and `--data` sends
 * `application/x-www-form-urlencoded` as curl does, so every admin call needed
 * `-H 'content-type: application/json'`. `--json <data>` sends the data as the body with
 * `Content-Type: application/json` and `Accept: application/json`, unless `-H` gives either.
 *
 * The program's own `--json` (machine-readable output) shares the name, and commander takes the
 * program's options anywhere on the line: after `request`, `--json` followed by a value (a word
 * not starting with `-`) or `--json=<data>` is the body; a `--json` with no value, or before `request`, is
 * still the output switch.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusedPort } from '../../../test-support/ports.js';
import { runCliInProcess } from '../../../test-support/processes.js';

interface Seen {
  method: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('hmac-kit request --json <data>', () => {
  let server: Server;
  let url: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/admin/principals`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const env = { HK_SECRET: `hks_${Buffer.alloc(32, 1).toString('base64url')}` };
  const signing = ['--key-id', 'hk_x', '--secret-env', 'HK_SECRET'];
  async function request(args: string[], before: string[] = []) {
    const result = await runCliInProcess([...before, 'request', 'POST', url, ...signing, ...args], { env });
    return { ...result, seen: seen.at(-1) };
  }

  it('sends the data as an application/json body, asking for JSON back', async () => {
    const result = await request(['--json', '{"name":"billing","kind":"service"}']);
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toContain('{"ok":true}');
    expect(result.seen?.body).toBe('{"name":"billing","kind":"service"}');
    expect(result.seen?.headers['content-type']).toBe('application/json');
    expect(result.seen?.headers.accept).toBe('application/json');
    // Signed as sent: the body's digest is in the signature.
    expect(result.seen?.headers['content-digest']).toMatch(/^sha-256=:/);
  });

  it('-H content-type or accept wins over the defaults', async () => {
    const result = await request([
      '-H',
      'Content-Type: application/merge-patch+json',
      '-H',
      'Accept: */*',
      '--json',
      '{}',
    ]);
    expect(result.code).toBe(0);
    expect(result.seen?.headers['content-type']).toBe('application/merge-patch+json');
    expect(result.seen?.headers.accept).toBe('*/*');
  });

  it('--json=<data> takes a value that starts with -', async () => {
    const result = await request(['--json=-1']);
    expect(result.code).toBe(0);
    expect(result.seen?.body).toBe('-1');
  });

  it('with the program-wide --json before request: both', async () => {
    const result = await request(['--json', '[1]'], ['--json']);
    expect(result.code).toBe(0);
    expect(result.seen?.body).toBe('[1]');
    expect(result.seen?.headers['content-type']).toBe('application/json');
  });

  it('--data keeps curl’s form default', async () => {
    const result = await request(['--data', 'a=b']);
    expect(result.code).toBe(0);
    expect(result.seen?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(result.seen?.headers.accept).not.toBe('application/json');
  });

  it('one body only: --json with --data, --data-file or --data-stdin is a usage error', async () => {
    for (const other of [['--data', 'x'], ['--data-stdin'], ['--data-file', 'nowhere.json']]) {
      const result = await request(['--json', '{}', ...other]);
      expect([other[0], result.code, result.stdout]).toEqual([other[0], 2, '']);
      expect(result.stderr).toMatch(/^hmac-kit: give only one of --data, --data-file, --data-stdin, --json\n$/);
    }
  });

  it('a --json with no value is still the output switch (errors as one JSON object)', async () => {
    const port = await refusedPort();
    const result = await runCliInProcess(['request', 'GET', `http://127.0.0.1:${port}/x`, ...signing, '--json'], {
      env,
    });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: expect.any(Object) });
  });

  it('is in the help', async () => {
    const help = await runCliInProcess(['request', '--help']);
    expect(help.stdout).toMatch(/--json <data>\s+request body as JSON/);
  });
});

it('completion: the hidden spelling is never offered, and the program-wide --json is still a switch', async () => {
  const bash = await runCliInProcess(['completion', 'bash']);
  expect(bash.stdout).not.toContain('json-body');
  const valueFlags = /case " ([^"]*) " in/.exec(bash.stdout)?.[1]?.split(' ') ?? [];
  expect(valueFlags).toContain('--data');
  expect(valueFlags).not.toContain('--json');
});
