// What the callgrind instruction counters share (bench/count-ab.js, bench/count-http.js,
// bench/serve-count.js): a Node process under valgrind's callgrind with instrumentation off at
// start (`--instr-atstart=no`), switched on only around the counted work (`callgrind_control
// --instr=on|off`), its instruction total read back, and the bench/http-server.js app counted over
// real loopback HTTP from bench/http-load.js in a process of its own.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatInteger, runNode, table } from './support.js';

/**
 * Starts `node --predictable <args>` under callgrind, instrumentation off. `--predictable`: V8 on
 * one thread with fixed seeds, so compilation and garbage collection happen at the same points of
 * every run and the count repeats (without it, runs of one build differ by 15-20%).
 *
 * HMAC_KIT_CALLGRIND_SIM=1 adds callgrind's cache and branch simulation (I1 and D1 32 KiB, last
 * level 512 KiB: this host's L1 and per-core L2, `lscpu`), so the output also holds I1mr, D1mr,
 * ILmr, DLmr, DLmw, Bcm, Bim per function (`callgrind_annotate --sort=ILmr`): the misses that
 * explain why code costs more between a framework's requests than in a loop (session 15). Slower.
 */
export function startCallgrind(args, { env = process.env, stdin = 'pipe', stdout = 'pipe' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hk-callgrind-'));
  const out = join(dir, 'callgrind.out');
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      ...(process.env.HMAC_KIT_CALLGRIND_SIM
        ? ['--cache-sim=yes', '--branch-sim=yes', '--I1=32768,8,64', '--D1=32768,8,64', '--LL=524288,8,64']
        : []),
      `--callgrind-out-file=${out}`,
      process.execPath,
      '--predictable',
      // V8 options for the counted process (space-separated), e.g. an inlining budget: NODE_OPTIONS
      // refuses most V8 flags (session 25).
      ...(process.env.HMAC_KIT_CALLGRIND_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...args,
    ],
    { env, stdio: [stdin, stdout, 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  /** The exit code, or the signal's name when a signal ended it. */
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const control = (flag) => {
    const result = spawnSync('callgrind_control', [flag, String(child.pid)], { encoding: 'utf8' });
    if (process.env.HMAC_KIT_COUNT_DEBUG) console.error(flag, result.status, result.stdout, result.stderr);
    return result;
  };
  return {
    child,
    /** The callgrind output file (for callgrind_annotate); gone after `remove()`. */
    out,
    exited,
    stderr: () => stderr,
    control,
    /** Runs `work()` with instrumentation on: only its instructions are counted. */
    async counted(work) {
      control('--instr=on');
      const result = await work();
      control('--instr=off');
      return result;
    },
    /** The first line the process writes to stdout; rejects if it exits first. */
    firstLine() {
      return new Promise((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        exited.then((code) => reject(new Error(`valgrind exited with ${code}: ${stderr.slice(-500)}`)));
      });
    },
    /** SIGTERM, then the exit code (or signal name). */
    stop() {
      child.kill('SIGTERM');
      return exited;
    },
    /** The instruction total (Ir) of the counted windows. */
    total() {
      const text = readFileSync(out, 'utf8');
      if (process.env.HMAC_KIT_COUNT_DEBUG) console.error(out, text.match(/^(summary|totals|events).*$/gm));
      const summary = /^totals: (\d+)/m.exec(text) ?? /^summary: (\d+)/m.exec(text);
      if (!summary) throw new Error(`no instruction total in the callgrind output: ${stderr.slice(-500)}`);
      return Number(summary[1]);
    },
    /**
     * Every event's total of the counted windows, by callgrind's event name (`Ir`, and with
     * HMAC_KIT_CALLGRIND_SIM `I1mr`, `ILmr`, `Bcm`, ...; see {@link cycleEstimate}).
     */
    events() {
      const text = readFileSync(out, 'utf8');
      const names = /^events: (.*)$/m.exec(text)?.[1].trim().split(/\s+/) ?? [];
      const totals = (/^totals: (.*)$/m.exec(text) ?? /^summary: (.*)$/m.exec(text))?.[1].trim().split(/\s+/) ?? [];
      return Object.fromEntries(names.map((name, index) => [name, Number(totals[index] ?? 0)]));
    },
    /**
     * Removes the output, unless HMAC_KIT_CALLGRIND_KEEP (or HMAC_KIT_COUNT_DEBUG) is set: then its
     * path goes to stderr, for `callgrind_annotate --inclusive=yes <file>` (per-function counts).
     */
    remove() {
      if (process.env.HMAC_KIT_CALLGRIND_KEEP || process.env.HMAC_KIT_COUNT_DEBUG) {
        console.error(`callgrind output kept: ${out}`);
        return;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Counts the bench/http-server.js app `kind` under callgrind over loopback HTTP: it is started with
 * `input` (JSON on stdin) and `env`, bench/http-load.js (8 connections, `mode`) sends `warmup`
 * requests, then exactly `count` counted ones, and the app is stopped. `signatures`: how many
 * distinct signed requests http-load.js prepares for an amount (default: one per request).
 * `settle`: requests of a second, uncounted run right before the counted one (default 0). Each run
 * of http-load.js opens new connections, and the first new connections after the warm-up make V8
 * drop a few dozen optimised functions of node:http and the app (deopt "wrong map", once per
 * process: `--trace-deopt` shows none at later batches) and compile them again: with settle 0 that
 * one-time work lands in the counted window (100-150k instructions per request of 2000).
 * Returns the callgrind run (its total and output still to read, then `remove()`), the load
 * result of the counted requests and the exit code.
 */
export async function countHttpServer({
  kind,
  env,
  input,
  mode,
  warmup,
  count,
  signatures = (amount) => amount,
  settle = 0,
  connections = 8,
}) {
  const run = startCallgrind([fileURLToPath(new URL('./http-server.js', import.meta.url)), kind], { env });
  run.child.stdin.end(JSON.stringify(input));
  const server = { ...input, ...JSON.parse(await run.firstLine()) };
  const load = (amount) =>
    runNode([fileURLToPath(new URL('./http-load.js', import.meta.url))], {
      input: JSON.stringify({
        url: server.url,
        mode,
        keyId: server.keyId,
        secret: server.secret,
        amount,
        seconds: 1,
        connections,
        signatures: signatures(amount),
      }),
    }).then((output) => JSON.parse(output));
  await load(warmup);
  if (settle > 0) await load(settle);
  const result = await run.counted(() => load(count));
  const code = await run.stop();
  return { run, result, code };
}

/**
 * Drives a child that speaks the warm-up handshake on stdout (`warm` when warmed up, then `done`
 * when the counted requests are answered): instrumentation on at `warm` (the child is told `go`),
 * off at `done` (told `exit`). Resolves when it has exited, rejects with its stderr's tail if it failed.
 */
export async function countedHandshake(run) {
  for await (const line of createInterface({ input: run.child.stdout })) {
    if (line === 'warm') {
      run.control('--instr=on');
      run.child.stdin.write('go\n');
    } else if (line === 'done') {
      run.control('--instr=off');
      run.child.stdin.write('exit\n');
    }
  }
  const code = await run.exited;
  if (code !== 0) throw new Error(`valgrind exited with ${code}: ${run.stderr().slice(-800)}`);
}

/**
 * Runs `args` (a script that speaks the handshake of {@link countedHandshake}) under callgrind and
 * returns its instructions per counted request, in all and spent compiling
 * ({@link compilingInstructions}): what {@link netOfCompilation} reports.
 *
 * @example
 * ```js
 * const { total, compiling } = await countChildPerRequest([script, build, '--child'], 6000);
 * ```
 */
export async function countChildPerRequest(args, count) {
  const run = startCallgrind(args);
  await countedHandshake(run);
  const compiling = compilingInstructions(run.out);
  const total = run.total();
  run.remove();
  return { total: total / count, compiling: compiling / count };
}

/**
 * The instructions of a callgrind output spent compiling (V8's optimising and baseline compilers,
 * lazy compilation: on the main thread under `--predictable`), from the inclusive counts of their
 * runtime entries. Work a long-running server does once, not per request: reported apart.
 */
export function compilingInstructions(out) {
  const inclusive = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', out], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  }).stdout;
  let compiling = 0;
  for (const entry of [
    'Runtime_CompileOptimized',
    'Runtime_CompileLazy',
    'BaselineBatchCompiler::CompileBatch',
    'Runtime_InstallBaselineCode',
  ]) {
    const line = inclusive.split('\n').find((candidate) => candidate.includes(`v8::internal::${entry}(`));
    if (line) compiling += Number(/^\s*([\d,]+)/.exec(line)[1].replace(/,/g, ''));
  }
  return compiling;
}

/**
 * The report of builds counted with {@link compilingInstructions}: instructions per request net of
 * compilation against the first build, then each build's total and its compilers' share.
 * `counted` is [label, { total, compiling }] pairs, per request.
 */
export function netOfCompilation(column, counted) {
  return [
    versusFirst(
      column,
      counted.map(([label, { total, compiling }]) => [label, total - compiling]),
    ),
    ...counted.map(
      ([label, { total, compiling }]) =>
        `${label}: ${formatInteger(total)} Ir/req in all, of which compilation ${formatInteger(compiling)}`,
    ),
  ].join('\n');
}

/** A table of instructions per request, each against the first: `results` is [label, Ir/req] pairs. */
export function versusFirst(column, results) {
  const first = results[0][1];
  return table(
    [column, 'instructions/req', 'vs first'],
    results.map(([label, value]) => [label, formatInteger(value), `${(value / first).toFixed(3)}x`]),
  );
}

/**
 * Callgrind's cycle estimate (KCachegrind's "CEst") of simulated events (HMAC_KIT_CALLGRIND_SIM):
 * each instruction 1, each first-level miss and mispredicted branch 10, each last-level miss 100.
 * A model, not a measurement: it ranks code by what a cache-cold run of it costs, which
 * instruction counts alone miss (session 15: the same verification costs 2-3x more between a
 * framework's requests than in a loop, for the same instructions). `undefined` without the
 * simulation's events.
 *
 * @example
 * ```js
 * const estimate = cycleEstimate(run.events()); // cycles of the counted windows
 * ```
 */
export function cycleEstimate(events) {
  if (events.ILmr === undefined || events.Bcm === undefined) return undefined;
  const firstLevel = events.I1mr + events.D1mr + events.D1mw;
  const lastLevel = events.ILmr + events.DLmr + events.DLmw;
  return events.Ir + 10 * (firstLevel + events.Bcm + events.Bim) + 100 * lastLevel;
}
