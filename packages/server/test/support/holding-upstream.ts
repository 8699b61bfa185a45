import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NonceReplayed } from '@hmac-kit/core';
import type { createGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import type { RequestContext } from '../../src/request-context.js';

/** An upstream that holds `/hold` requests until released and answers every other at once. */
export interface HoldingUpstream {
  url: string;
  /** Paths received, in order. */
  seen: string[];
  held: ServerResponse[];
  /** Answers every held request with `held answer, complete`. */
  release(): void;
  close(): Promise<void>;
}

/** Starts a {@link HoldingUpstream} on a free loopback port (the gateway's upstream in queue tests). */
export async function startHoldingUpstream(): Promise<HoldingUpstream> {
  const seen: string[] = [];
  const held: ServerResponse[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    seen.push(request.url ?? '');
    request.resume();
    if (request.url === '/hold') held.push(response);
    else response.end(`answer ${request.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    held,
    release() {
      for (const response of held.splice(0)) response.end('held answer, complete');
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A gateway's handler on a local server: each request gets a context (`r0`, `r1`, ...) kept in `contexts`. */
export interface ListeningGateway {
  base: string;
  /** One per request, in the order the server received them. */
  contexts: RequestContext[];
  /** Closes the server and its connections (not the gateway). */
  close(): Promise<void>;
}

/** Serves `gateway.handler` on a free loopback port with a silent logger (queue tests against a {@link HoldingUpstream}). */
export async function listenGateway(gateway: ReturnType<typeof createGateway>): Promise<ListeningGateway> {
  const log = createLogger('silent');
  const contexts: RequestContext[] = [];
  const server = createServer((request, response) => {
    const context = { id: `r${contexts.length}`, started: process.hrtime.bigint(), log } as RequestContext;
    contexts.push(context);
    void gateway.handler(request, response, context);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    contexts,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What {@link standInAuthenticator} gives a test: the authenticator and what it saw. */
export interface StandInAuthenticator {
  authenticator: Parameters<typeof createGateway>[0]['authenticator'];
  /** Paths whose admission started, in order. */
  admitted: string[];
  /** Paths committed, in order (where a real authenticator charges the nonce and the rate limit). */
  committed: string[];
}

/**
 * A stand-in for the gateway's authenticator in queue tests: every request is admitted as verified
 * for one fixed identity, without a body check, so that a test can hold the asynchronous window
 * between admission and dispatch open. `holdAdmission(path)` may return a promise that path's
 * admission waits on first (undefined: no wait, not even a tick). `commitWay(path)` says how that
 * path's commit (finish, complete, commitBeforeBody) ends: `commit` (recorded in `committed`),
 * `refuse` (not ok, a replay, as a nonce store answers one) or `throw` (a store failing outside the
 * pipeline's own handling). A failed body is refused, as the pipeline's `fail()` answers.
 *
 * @example
 * ```ts
 * const { authenticator, committed } = standInAuthenticator((path) => (path === '/late' ? verification : undefined));
 * const gateway = createGateway({ config, authenticator, metrics, isTrustedProxy: () => false });
 * ```
 */
export function standInAuthenticator(
  holdAdmission: (path: string) => Promise<void> | undefined = () => undefined,
  commitWay: (path: string) => 'commit' | 'refuse' | 'throw' = () => 'commit',
): StandInAuthenticator {
  const admitted: string[] = [];
  const committed: string[] = [];
  const identity = { keyId: 'k', principal: 'p', scopes: [], scheme: 'rfc9421', coveredComponents: ['@method'] };
  const admit = async (message: { url: string }) => {
    const path = new URL(message.url).pathname;
    admitted.push(path);
    const held = holdAdmission(path);
    if (held !== undefined) await held;
    const commit = async () => {
      const way = commitWay(path);
      if (way === 'refuse') return { ok: false, error: new NonceReplayed('seen'), problem: { headers: {} } };
      if (way === 'throw') throw new Error('store failed');
      committed.push(path);
      return { ok: true, identity, headers: {} };
    };
    return {
      ok: true,
      identity,
      signatureVerified: true,
      checksBody: false,
      update() {},
      finish: commit,
      complete: commit,
      commitBeforeBody: commit,
      async fail(error: unknown) {
        return { ok: false, error, problem: { headers: {} } };
      },
      signedBody() {
        return undefined;
      },
    };
  };
  return {
    authenticator: { admit } as unknown as Parameters<typeof createGateway>[0]['authenticator'],
    admitted,
    committed,
  };
}
