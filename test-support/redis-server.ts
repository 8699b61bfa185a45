import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private `redis-server` (Debian package `redis-server`) the test starts, pauses, stops and
 * restarts at will, on a free loopback port, without persistence and in its own temporary
 * directory: the shared Redis other engineers' tests use is never touched.
 */
export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGSTOP: the server keeps its connections open but answers nothing (a hung or partitioned Redis). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /**
   * Stops the server and starts a new one on the same port: without persistence it comes back
   * empty, as a Redis that crashed or was redeployed does. Resolves once it accepts connections.
   */
  restart(): Promise<void>;
}

/** Whether `redis-server` can be run (the Redis test services need it). */
export async function redisServerAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a private redis-server and resolves once it accepts connections (it prints "Ready to
 * accept connections"). Retries on another port if the free port it picked was taken meanwhile.
 */
function spawnRedis(port: number, dir: string): Promise<{ child: ChildProcess; exited: Promise<void> } | undefined> {
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) resolve({ child, exited });
    });
    child.once('exit', () => resolve(undefined));
    child.once('error', () => resolve(undefined));
  });
}

async function stopRedis(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  await exited;
}

/**
 * Starts a private redis-server and resolves once it accepts connections (it prints "Ready to
 * accept connections"). Retries on another port if the free port it picked was taken meanwhile.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    let running = await spawnRedis(port, dir);
    if (!running) {
      if (attempt < 3) continue;
      throw new Error('redis-server did not start (apt-get install -y redis-server)');
    }
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      pause: () => running?.child.kill('SIGSTOP'),
      resume: () => running?.child.kill('SIGCONT'),
      async stop() {
        if (running) await stopRedis(running.child, running.exited);
      },
      async restart() {
        if (running) await stopRedis(running.child, running.exited);
        // The port was ours a moment ago; another process may grab it in between, so retry briefly.
        for (let retry = 0; ; retry++) {
          running = await spawnRedis(port, dir);
          if (running) return;
          if (retry >= 20) throw new Error(`redis-server did not restart on port ${port}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
    };
  }
}
