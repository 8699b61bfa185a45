// `node --import ./late-worker.mjs`: in a `hmac-kit serve` worker other than the first, holds the
// worker back until something accepts connections on HMAC_KIT_TEST_LATE_WORKER_PORT (the supervisor,
// once the first worker listens): the order a loaded machine gives by chance, made certain.
import cluster from 'node:cluster';
import { connect } from 'node:net';

const port = Number(process.env.HMAC_KIT_TEST_LATE_WORKER_PORT);
if (cluster.isWorker && cluster.worker.id > 1 && port > 0) {
  const accepts = () =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  while (!(await accepts())) await new Promise((resolve) => setTimeout(resolve, 20));
}
