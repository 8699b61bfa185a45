import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * TCP proxies in front of a shared service (PostgreSQL, Redis) that a test can break and mend, to
 * watch a client lose the service and get it back without touching the service itself. Two ways to
 * break it: {@link CuttableProxy.cut} keeps listening but drops every connection (a reset), and
 * {@link TcpProxy.down} closes the listener (connection refused).
 */

/** Pipes `downstream` to a new connection to `targetHost:targetPort`; both end together. */
function forward(downstream: Socket, targetHost: string, targetPort: number, sockets: Set<Socket>): void {
  const upstream = tcpConnect(targetPort, targetHost);
  sockets.add(downstream);
  sockets.add(upstream);
  const drop = () => {
    downstream.destroy();
    upstream.destroy();
    sockets.delete(downstream);
    sockets.delete(upstream);
  };
  downstream.on('error', drop).on('close', drop);
  upstream.on('error', drop).on('close', drop);
  downstream.pipe(upstream);
  upstream.pipe(downstream);
}

function destroyAll(sockets: Set<Socket>): void {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
}

/** A proxy that keeps its port and drops connections while cut. */
export interface CuttableProxy {
  port: number;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /** Accepts and forwards connections again. */
  heal(): void;
  close(): Promise<void>;
}

/** Starts a {@link CuttableProxy} on an ephemeral loopback port forwarding to `targetHost:targetPort`. */
export async function startCuttableProxy(targetHost: string, targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((downstream) => {
    if (!open) {
      downstream.destroy();
      return;
    }
    forward(downstream, targetHost, targetPort, sockets);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy did not bind a TCP port');
  return {
    port: address.port,
    cut() {
      open = false;
      destroyAll(sockets);
    },
    heal() {
      open = true;
    },
    async close() {
      open = false;
      destroyAll(sockets);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy whose listener goes away while down: clients see the port refuse connections. */
export interface TcpProxy {
  port: number;
  /** `template` with `{port}` replaced by the proxy's port. */
  url(template: string): string;
  /** Closes the listener and every open connection. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a {@link TcpProxy} on an ephemeral loopback port forwarding to `targetHost:targetPort`. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const listener = createServer((downstream) => forward(downstream, targetHost, targetPort, sockets));
      server = listener;
      listener.once('error', reject);
      listener.listen(port, '127.0.0.1', () => {
        port = (listener.address() as { port: number }).port;
        resolve();
      });
    });
  const down = async () => {
    const closing = server ? new Promise<void>((resolve) => server?.close(() => resolve())) : Promise.resolve();
    destroyAll(sockets);
    server = undefined;
    await closing;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    url: (template) => template.replace('{port}', String(port)),
    down,
    up: listen,
    close: down,
  };
}
