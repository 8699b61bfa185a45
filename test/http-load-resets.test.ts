// bench/http-load.js with `amount` (what bench/count-ab.js --http and bench/count-http.js count
// over): a request lost to its connection (reset by the server, as Express under valgrind did now
// and then) is sent again, so exactly `amount` are answered, and the result says how many were lost.
// Before: the lost requests were errors, fewer than `amount` were answered, and count-ab stopped.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const loadScript = fileURLToPath(new URL('../bench/http-load.js', import.meta.url));

/** Runs bench/http-load.js with `input` on stdin; resolves its JSON result. */
function httpLoad(input: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loadScript], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as Record<string, unknown>);
      else reject(new Error(`http-load.js exited with ${code}: ${stderr}`));
    });
    child.stdin.end(JSON.stringify(input));
  });
}

describe('bench/http-load.js: requests lost to a reset connection', () => {
  let server: Server;
  let url: string;
  let received = 0;

  beforeAll(async () => {
    // Every 25th request: the connection is reset instead of answered.
    server = createServer((request, response) => {
      request.resume();
      request.once('end', () => {
        received++;
        if (received % 25 === 0) request.socket.resetAndDestroy();
        else response.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends them again: exactly `amount` answered, the losses reported', async () => {
    const result = await httpLoad({
      url,
      mode: 'orders',
      keyId: 'hk_loadresets000001',
      secret: `hks_${'A'.repeat(43)}`,
      amount: 200,
      seconds: 1,
      connections: 4,
      signatures: 200,
    });
    expect(result.total).toBe(200);
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.lost).toBeGreaterThan(0);
    expect(result.topUps).toBeGreaterThan(0);
    expect(result.reusedSignatures).toBe(0);
    expect(Object.keys(result.errorCodes as object)).not.toHaveLength(0);
  });
});
