import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach } from 'vitest';

/**
 * Lists for the node:http servers and raw client sockets a test file opens in process: whatever is
 * pushed onto them is destroyed and closed after each test (registered with vitest's `afterEach`,
 * so call it at the top level of the file).
 *
 * @example
 * const { servers, sockets } = closedAfterEachTest();
 * const server = createServer(handler);
 * servers.push(server);
 */
export function closedAfterEachTest(): { servers: Server[]; sockets: Socket[] } {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
  });
  return { servers, sockets };
}
