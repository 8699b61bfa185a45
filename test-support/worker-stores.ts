/**
 * One `hmac-kit serve --workers` worker's limit stores, in this process: the worker's IPC proxies
 * of a supervisor's shared stores over an in-memory channel that, as the IPC channel does, clones
 * every message and delivers it on a later turn.
 */
import { EventEmitter } from 'node:events';
import { type LimitStores, type shareLimitStores, supervisorLimitStores } from '@hmac-kit/server';

/**
 * The stores a worker of the supervisor holding `shared` reaches; call it again for another worker.
 *
 * @example
 * const shared = shareLimitStores(memoryLimitStores());
 * const [first, second] = [inProcessWorkerStores(shared), inProcessWorkerStores(shared)];
 */
export function inProcessWorkerStores(shared: ReturnType<typeof shareLimitStores>): LimitStores {
  const channel = Object.assign(new EventEmitter(), {
    send(message: unknown, callback: (error: Error | null) => void) {
      const copy = structuredClone(message);
      setImmediate(() => {
        callback(null);
        shared.handle(copy, (reply) => setImmediate(() => channel.emit('message', structuredClone(reply))));
      });
      return true;
    },
  });
  return supervisorLimitStores(channel, structuredClone(shared.description));
}
