/**
 * Session 12 (sec-slow): `--max-connections-per-address` counts an IPv6 peer per /64 (a host picks
 * any address of its /64), so the holder of a /48 (a site's allocation; one free tunnel-broker
 * account gets one) had 65,536 quotas: with `--max-connections-per-address 2` it could take every
 * slot of `--max-connections` from one /48. Now a /48 holds at most IPV6_PREFIX_MULTIPLE (4) times
 * the per-address cap.
 *
 * The machine has no routed IPv6 prefix to connect from, so peers come from 127.0.0.x (Linux routes
 * 127/8 to lo) and the server is told, in process, that each is an IPv6 address of a /64 of one /48
 * (net.Socket's peer-name lookup, which `remoteAddress` reads, is patched for those sources only).
 * Everything else is the real server: its listener, its gate, its HTTP code.
 */

import { connect, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import type { RunningServer } from '../../src/index.js';
import { startInProcess } from '../support/in-process.js';

/** 127.0.0.(10 + n) reads as 2001:db8:aaaa:n::1 (one /48, /64s 1..); 127.0.0.200 as another /48. */
function fakePeer(address: string): string | undefined {
  const match = /^127\.0\.0\.(\d+)$/.exec(address);
  if (!match) return undefined;
  const last = Number(match[1]);
  if (last === 200) return '2001:db8:bbbb:1::1';
  if (last >= 10 && last < 100) return `2001:db8:aaaa:${(last - 10).toString(16)}::1`;
  return undefined;
}

type PeerName = { address?: string; port?: number; family?: string };
const proto = Socket.prototype as unknown as { _getpeername(): PeerName };
const original = proto._getpeername;

/** Connects from `source`; resolves whether the server answered a request on it (false: closed at once). */
function served(port: number, source: string): Promise<{ served: boolean; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: source });
    let received = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n')) resolve({ served: /^HTTP\/1\.1 200 /.test(received), socket });
    });
    socket.once('close', () => resolve({ served: false, socket }));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

describe('the per-address connection cap and IPv6 prefixes', () => {
  let server: RunningServer;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    proto._getpeername = function fakePeerName(this: Socket) {
      const name = original.call(this);
      const fake = name?.address === undefined ? undefined : fakePeer(name.address);
      return fake === undefined ? name : { ...name, address: fake, family: 'IPv6' };
    };
    server = await startInProcess({
      maxConnections: '64',
      maxConnectionsPerAddress: '2',
      headersTimeout: '10m',
    });
  });

  afterAll(async () => {
    proto._getpeername = original;
    for (const socket of sockets) socket.destroy();
    await server?.close();
  });

  it('one /48 holds at most 4 x the per-address cap, over any number of /64s; another /48 is not concerned', async () => {
    const port = Number(new URL(server.url).port);
    // The peers are read as IPv6 (not exempt as loopback): a third connection from one /64 is refused.
    const sameSixtyFour: boolean[] = [];
    for (let n = 0; n < 3; n++) {
      const { served: ok, socket } = await served(port, '127.0.0.200');
      sockets.push(socket);
      sameSixtyFour.push(ok);
    }
    expect(sameSixtyFour).toEqual([true, true, false]);
    // 20 /64s of one /48, one connection each (each /64 is under its own cap of 2). Before: all
    // 20 served (20 of the 64 slots; 32 /64s would have taken all of them).
    const results: boolean[] = [];
    for (let n = 0; n < 20; n++) {
      const { served: ok, socket } = await served(port, `127.0.0.${10 + n}`);
      sockets.push(socket);
      results.push(ok);
    }
    expect(results.filter(Boolean).length).toBe(8);
    expect(results.slice(0, 8).every(Boolean)).toBe(true);
    // The other /48's two connections (above) are still served.
    for (const socket of sockets.slice(0, 2)) expect(socket.destroyed).toBe(false);
    // Once the /48's connections close, it is served again.
    for (const socket of sockets.slice(3, 23)) socket.destroy();
    await until(
      async () =>
        await served(port, '127.0.0.10').then(({ served: ok, socket }) => {
          sockets.push(socket);
          return ok;
        }),
    );
  }, 30_000);
});
