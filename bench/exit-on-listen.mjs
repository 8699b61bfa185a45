// `node --import bench/exit-on-listen.mjs packages/cli/bin/hmac-kit.js serve ...`: the process exits
// right after `hmac-kit serve` writes its "listening on" banner to stderr (after the "listening" log
// line), for counting or profiling start-up alone (bench/start-cost.js --callgrind, `node --cpu-prof`).
// Other commands run as usual.
const write = process.stderr.write.bind(process.stderr);
process.stderr.write = (chunk, ...rest) => {
  const written = write(chunk, ...rest);
  if (String(chunk).includes('listening on')) setImmediate(() => process.exit(0));
  return written;
};
