/**
 * Which upstream client the gateway runs (`--upstream-client auto|undici|builtin`), decided once
 * at start-up, before the stores open (an explicit `builtin` that cannot run refuses to start).
 *
 * `auto` (the default) takes the builtin client when it can serve the configuration as undici
 * would: a plain `http://` upstream (the builtin client speaks TLS but does not resume TLS
 * sessions, so each new https connection pays a full handshake that undici's pool avoids), no
 * tracing (it has no OpenTelemetry instrumentation: no client span, no `traceparent` upstream),
 * and node's internal HTTP parser present and passing its self-test (http-parser.ts). Anything
 * else: undici, with the reason, which the start-up log names.
 */
import { checkedHttpParser, HttpParserUnfitError, type NodeHttpParserClass, nodeHttpParser } from './http-parser.js';

/** The `upstreamClient` setting. */
export type UpstreamClientSetting = 'auto' | 'undici' | 'builtin';

/** The client chosen for a gateway. */
export type UpstreamClientChoice =
  | { client: 'builtin'; parser: NodeHttpParserClass }
  | {
      client: 'undici';
      /**
       * Why `auto` did not take the builtin client (absent when undici was asked for by name):
       * `https`, `tracing`, or `parser` (node's internal parser missing or failing its self-test,
       * with `detail`: the one the start-up warning carries).
       */
      because?: 'https' | 'tracing' | 'parser';
      detail?: string;
    };

/** Inputs of {@link chooseUpstreamClient}. */
export interface ChooseUpstreamClientOptions {
  /** Tracing is asked for (the builtin client cannot be traced). */
  traced: boolean;
  /**
   * A stand-in for node's `HTTPParser` to self-test instead of this Node's (tests: a parser that
   * behaves otherwise must make `auto` fall back and `builtin` refuse).
   */
  parserCandidate?: unknown;
}

/**
 * The client for `setting` and `upstream` (the `--upstream` URL). Throws an
 * {@link HttpParserUnfitError} for an explicit `builtin` on a Node whose internal parser is
 * missing or fails its self-test; `auto` never throws.
 *
 * @example
 * ```ts
 * chooseUpstreamClient('auto', 'http://orders:3000', { traced: false }); // { client: 'builtin', parser }
 * chooseUpstreamClient('auto', 'https://orders', { traced: false }); // { client: 'undici', because: 'https' }
 * ```
 */
export function chooseUpstreamClient(
  setting: UpstreamClientSetting,
  upstream: string,
  options: ChooseUpstreamClientOptions,
): UpstreamClientChoice {
  if (setting === 'undici') return { client: 'undici' };
  const load = () => ('parserCandidate' in options ? checkedHttpParser(options.parserCandidate) : nodeHttpParser());
  if (setting === 'builtin') return { client: 'builtin', parser: load() };
  if (new URL(upstream).protocol === 'https:') return { client: 'undici', because: 'https' };
  if (options.traced) return { client: 'undici', because: 'tracing' };
  try {
    return { client: 'builtin', parser: load() };
  } catch (error) {
    const detail = error instanceof HttpParserUnfitError ? error.reason : String((error as Error)?.message ?? error);
    return { client: 'undici', because: 'parser', detail };
  }
}

/**
 * The start-up log's words for a choice: `builtin`, `undici`, or `undici (auto: https upstream)`.
 *
 * @example
 * ```ts
 * describeUpstreamClient({ client: 'undici', because: 'tracing' }); // 'undici (auto: tracing on)'
 * ```
 */
export function describeUpstreamClient(choice: UpstreamClientChoice): string {
  if (choice.client === 'builtin' || choice.because === undefined) return choice.client;
  const why =
    choice.because === 'https'
      ? 'https upstream'
      : choice.because === 'tracing'
        ? 'tracing on'
        : "node's internal HTTP parser unfit";
  return `undici (auto: ${why})`;
}
