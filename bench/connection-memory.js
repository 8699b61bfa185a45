// What an idle client connection costs a running `hmac-kit serve` in resident memory, plain HTTP,
// TLS (HTTP/1.1 by ALPN) and HTTP/2: the figures behind the default `--max-connections` (config.ts
// `defaultMaxConnections`, docs/server.md "Connection limits and slow clients"). Starts one serve
// process (`--workers 1`, in-memory database, a throwaway certificate made with openssl), reads its
// VmRSS from /proc (Linux only), opens `count` connections that send nothing more, reads it again.
//
//   node bench/connection-memory.js [plain|tls|h2] [count=2000]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

const mode = process.argv[2] ?? 'plain';
const count = Number(process.argv[3] ?? 2000);
const bin = new URL('../packages/cli/bin/hmac-kit.js', import.meta.url).pathname;
const args = ['--db', ':memory:', 'serve', '--port', '0', '--log-level', 'warn', '--console', 'false'];
args.push('--max-connections', String(count + 100), '--max-connections-per-address', String(count + 100));
args.push('--headers-timeout', '10m');
if (mode !== 'plain') {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-connection-memory-'));
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
    ],
    { stdio: 'ignore' },
  );
  args.push('--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'));
}
const child = spawn(process.execPath, [bin, ...args], {
  env: { ...process.env, HMAC_KIT_WORKERS: '1', HMAC_KIT_MASTER_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}` },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const port = await new Promise((resolve) => {
  let text = '';
  child.stderr.on('data', (chunk) => {
    text += chunk.toString();
    const found = /listening on https?:\/\/[^\s]+:(\d+)/.exec(text);
    if (found) resolve(Number(found[1]));
  });
});
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
const settle = () => new Promise((resolve) => setTimeout(resolve, 1500));
await settle();
const before = rssKb();
const open = [];
for (let index = 0; index < count; index++) {
  let connection;
  let ready;
  if (mode === 'plain') [connection, ready] = [connect(port, '127.0.0.1'), 'connect'];
  else if (mode === 'tls') {
    const options = { port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] };
    [connection, ready] = [tlsConnect(options), 'secureConnect'];
  } else [connection, ready] = [http2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false }), 'connect'];
  connection.on('error', () => {});
  open.push(connection);
  await new Promise((resolve) => connection.once(ready, resolve));
}
await settle();
const after = rssKb();
console.log(
  `${mode}: ${count} idle connections, ${((after - before) / count).toFixed(1)} KB of RSS each (${before} -> ${after} KB)`,
);
for (const connection of open) connection.destroy();
child.kill('SIGKILL');
