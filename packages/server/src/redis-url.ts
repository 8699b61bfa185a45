/**
 * The `--redis` URL forms `hmac-kit serve` understands, parsed into what ioredis needs. Parsing
 * only: no connection is made here (see redis-connection.ts).
 *
 * - `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS): one Redis server.
 * - `redis+cluster://[user:password@]host:port[,host:port...]` (or `rediss+cluster://`): a Redis
 *   Cluster, any reachable nodes as seeds; the rest is discovered.
 * - `redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db]` (or
 *   `rediss+sentinel://`): the master that Redis Sentinel names `master-name`, followed across
 *   failovers. The credentials are used for the sentinels and the Redis servers alike.
 *
 * Query parameters (every form): `replicas=N` — a nonce counts as recorded only once `N` replicas
 * acknowledge it (Redis `WAIT`), so a failover cannot forget it and accept a replay; default 1 for
 * cluster and sentinel, 0 for one server. `replicaTimeout=MS` — how long to wait for them
 * (default 500, at most 900: every Redis command has 1 s); past it the request fails closed (503).
 */

/** One `host:port`. */
export interface RedisNode {
  host: string;
  port: number;
}

interface Common {
  /** Replicas that must acknowledge a nonce before it counts (`WAIT`). */
  replicas: number;
  replicaTimeoutMs: number;
  tls: boolean;
  username?: string;
  password?: string;
}

/** What a `--redis` URL names. */
export type RedisTarget =
  | (Common & { kind: 'standalone'; node: RedisNode; db: number })
  | (Common & { kind: 'cluster'; nodes: RedisNode[] })
  | (Common & { kind: 'sentinel'; sentinels: RedisNode[]; masterName: string; db: number });

/** A `--redis` value that is not one of the documented forms. The message never repeats a password. */
export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

const FORMS =
  'expected redis://host:port, redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/master-name';
const URL_SHAPE = /^(rediss?)(?:\+(cluster|sentinel))?:\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/;
const DEFAULT_REPLICA_TIMEOUT_MS = 500;
const MAX_REPLICA_TIMEOUT_MS = 900;

function parseNode(text: string, defaultPort: number): RedisNode {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([^:[\]]+)(?::(\d+))?$/.exec(text);
  const match = bracketed ?? plain;
  if (!match?.[1]) throw new RedisUrlError(`invalid redis URL: bad address ${JSON.stringify(text)} (${FORMS})`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new RedisUrlError(`invalid redis URL: bad port in ${JSON.stringify(text)}`);
  }
  return { host: match[1], port };
}

function parseDb(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,5}$/.test(text))
    throw new RedisUrlError(`invalid redis URL: database ${JSON.stringify(text)} is not a number`);
  return Number(text);
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RedisUrlError(`invalid redis URL: malformed percent-encoding in the ${what}`);
  }
}

function parseQuery(
  query: string | undefined,
  kind: RedisTarget['kind'],
): Pick<Common, 'replicas' | 'replicaTimeoutMs'> {
  const result = { replicas: kind === 'standalone' ? 0 : 1, replicaTimeoutMs: DEFAULT_REPLICA_TIMEOUT_MS };
  for (const [name, value] of new URLSearchParams(query ?? '')) {
    if (name === 'replicas') {
      if (!/^\d{1,2}$/.test(value)) throw new RedisUrlError(`invalid redis URL: replicas=${value} (expected 0..99)`);
      result.replicas = Number(value);
    } else if (name === 'replicaTimeout') {
      // Below the 1 s every Redis command gets (recommendedRedisOptions.commandTimeout), WAIT included.
      if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > MAX_REPLICA_TIMEOUT_MS) {
        throw new RedisUrlError(
          `invalid redis URL: replicaTimeout=${value} (expected milliseconds, 1..${MAX_REPLICA_TIMEOUT_MS})`,
        );
      }
      result.replicaTimeoutMs = Number(value);
    } else {
      throw new RedisUrlError(
        `invalid redis URL: unknown parameter ${JSON.stringify(name)} (known: replicas, replicaTimeout)`,
      );
    }
  }
  return result;
}

/**
 * Parses a `--redis` value. Throws {@link RedisUrlError} with one line naming what is wrong
 * (never echoing the credentials).
 *
 * @example
 * ```ts
 * parseRedisUrl('redis+sentinel://s1:26379,s2:26379/mymaster');
 * // { kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, ...], masterName: 'mymaster', db: 0, replicas: 1, ... }
 * ```
 */
export function parseRedisUrl(url: string): RedisTarget {
  const match = URL_SHAPE.exec(url.trim());
  if (!match) throw new RedisUrlError(`invalid redis URL: ${FORMS}`);
  const [, scheme, topology, userinfo, hosts = '', path = '', query] = match;
  const kind: RedisTarget['kind'] =
    topology === 'cluster' ? 'cluster' : topology === 'sentinel' ? 'sentinel' : 'standalone';
  const common: Common = { ...parseQuery(query, kind), tls: scheme === 'rediss' };
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':');
    const username = decode(colon === -1 ? userinfo : userinfo.slice(0, colon), 'user name');
    if (username) common.username = username;
    if (colon !== -1) common.password = decode(userinfo.slice(colon + 1), 'password');
  }
  const addresses = hosts.split(',').filter((host) => host !== '');
  if (addresses.length === 0) throw new RedisUrlError(`invalid redis URL: no host (${FORMS})`);
  const segments = path.split('/').slice(1);
  switch (kind) {
    case 'standalone': {
      if (addresses.length > 1) {
        throw new RedisUrlError('invalid redis URL: several hosts need redis+cluster:// or redis+sentinel://');
      }
      if (segments.length > 1) throw new RedisUrlError('invalid redis URL: expected redis://host:port[/db]');
      return { ...common, kind, node: parseNode(addresses[0] as string, 6379), db: parseDb(segments[0]) };
    }
    case 'cluster': {
      if (segments.some((segment) => segment !== '')) {
        throw new RedisUrlError(
          'invalid redis URL: a cluster has no database number or path (redis+cluster://h1:p1,h2:p2)',
        );
      }
      return { ...common, kind, nodes: addresses.map((address) => parseNode(address, 6379)) };
    }
    case 'sentinel': {
      const masterName = decode(segments[0] ?? '', 'master name');
      if (!masterName || segments.length > 2) {
        throw new RedisUrlError(
          'invalid redis URL: expected redis+sentinel://host:port[,host:port...]/master-name[/db]',
        );
      }
      return {
        ...common,
        kind,
        sentinels: addresses.map((address) => parseNode(address, 26379)),
        masterName,
        db: parseDb(segments[1]),
      };
    }
  }
}

/** The URL without credentials, for logs and `/readyz` answers. */
export function describeRedisTarget(target: RedisTarget): string {
  const scheme = target.tls ? 'rediss' : 'redis';
  const list = (nodes: readonly RedisNode[]) =>
    nodes.map((node) => `${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`).join(',');
  if (target.kind === 'standalone') return `${scheme}://${list([target.node])}/${target.db}`;
  if (target.kind === 'cluster') return `${scheme}+cluster://${list(target.nodes)}`;
  return `${scheme}+sentinel://${list(target.sentinels)}/${target.masterName}/${target.db}`;
}
