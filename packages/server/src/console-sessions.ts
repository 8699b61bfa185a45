/**
 * Server-side sessions of the admin console. The browser holds only a random session id in an
 * HttpOnly cookie; the store holds what the id stands for, keyed by the SHA-256 of the id so a
 * copy of the store (a Redis dump, a memory snapshot) cannot be replayed as a cookie.
 *
 * Sessions live where the other shared limits live: Redis when configured (every instance sees a
 * sign-out at once), otherwise this process's memory, or the supervisor's for its workers (the
 * store's methods take and return plain JSON so they cross the worker IPC channel unchanged).
 */
import { StoreUnavailable } from '@hmac-kit/core';

/** What a session id stands for. Times are Unix epoch milliseconds. */
export interface ConsoleSession {
  principal: string;
  /** Sent back by the page in `x-csrf-token` on every state-changing call. */
  csrfToken: string;
  createdAt: number;
  /** Hard end of the session whatever the activity (the idle timeout ends it sooner). */
  absoluteExpiresAt: number;
}

/**
 * The session store contract. Two reads: `touch` (a user's own call) extends the idle deadline,
 * `peek` (a call the page makes on its own, such as a refresh poll) does not, so a page left open
 * ends `idleSeconds` after its user last did something, however often it refreshes itself.
 */
export interface ConsoleSessionStore {
  /** Stores a new session under the hash of its id for `idleSeconds`. */
  create(idHash: string, session: ConsoleSession, idleSeconds: number): Promise<void>;
  /** The session if it is neither idle for `idleSeconds` nor past its absolute end; extends its idle deadline. */
  touch(idHash: string, idleSeconds: number, now: number): Promise<ConsoleSession | undefined>;
  /** The session if it is neither idle nor past its absolute end, leaving its idle deadline where it was. */
  peek(idHash: string, now: number): Promise<ConsoleSession | undefined>;
  /** Ends a session (sign-out). Idempotent. */
  delete(idHash: string): Promise<void>;
}

/** Enough sessions for any team of operators; a flood of sign-ins cannot grow memory past it. */
const MAX_MEMORY_SESSIONS = 10_000;

/**
 * Sessions in this process's memory. No timer: expired sessions are dropped when they are read
 * and swept when a new one is created, so an idle server never wakes up for them.
 *
 * @example
 * ```ts
 * const sessions = memoryConsoleSessionStore();
 * await sessions.create(hash, { principal: 'root', csrfToken, createdAt: now, absoluteExpiresAt: now + 8 * 3600_000 }, 900);
 * ```
 */
export function memoryConsoleSessionStore(options: { clock?: () => number } = {}): ConsoleSessionStore {
  const clock = options.clock ?? (() => Date.now());
  const sessions = new Map<string, { session: ConsoleSession; idleUntil: number }>();
  const live = (entry: { session: ConsoleSession; idleUntil: number }, now: number) =>
    entry.idleUntil > now && entry.session.absoluteExpiresAt > now;
  return {
    async create(idHash, session, idleSeconds) {
      const now = clock();
      for (const [hash, entry] of sessions) if (!live(entry, now)) sessions.delete(hash);
      // Oldest first (insertion order): the longest-lived sessions give way to a new sign-in.
      while (sessions.size >= MAX_MEMORY_SESSIONS) {
        const oldest = sessions.keys().next().value as string;
        sessions.delete(oldest);
      }
      // The idle period starts at sign-in (the session's createdAt), not when this store got to it: a
      // create that arrives late (a busy worker, the supervisor's channel) must not lengthen it.
      sessions.set(idHash, {
        session: { ...session },
        idleUntil: Math.min(now, session.createdAt) + idleSeconds * 1000,
      });
    },
    async touch(idHash, idleSeconds, now) {
      const entry = sessions.get(idHash);
      if (!entry) return undefined;
      if (!live(entry, now)) {
        sessions.delete(idHash);
        return undefined;
      }
      entry.idleUntil = now + idleSeconds * 1000;
      return { ...entry.session };
    },
    async peek(idHash, now) {
      const entry = sessions.get(idHash);
      if (!entry) return undefined;
      if (!live(entry, now)) {
        sessions.delete(idHash);
        return undefined;
      }
      return { ...entry.session };
    },
    async delete(idHash) {
      sessions.delete(idHash);
    },
  };
}

/** The ioredis methods the Redis session store uses (a `Redis` or a `Cluster`). */
export interface SessionRedisClient {
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
  getex(key: string, mode: 'EX', seconds: number): Promise<string | null>;
  get(key: string): Promise<string | null>;
  del(key: string): Promise<number>;
}

/**
 * Sessions in Redis: one string per session with the idle timeout as its TTL, extended by
 * `GETEX` on every user call (one round trip); a background read is a plain `GET`, which leaves
 * the TTL alone. Redis errors fail closed: the page is signed out rather than trusted without its
 * store.
 *
 * @example
 * ```ts
 * const sessions = redisConsoleSessionStore({ client: new Redis() });
 * ```
 */
export function redisConsoleSessionStore(options: {
  client: SessionRedisClient;
  prefix?: string;
}): ConsoleSessionStore {
  const { client } = options;
  const prefix = options.prefix ?? 'hmac-kit:console-session:';
  const unavailable = (error: unknown): never => {
    throw new StoreUnavailable('console session store unreachable', { cause: error });
  };
  /** The stored session if it is not past its absolute end (a session past it is dropped). */
  const liveSession = async (idHash: string, text: string | null, now: number): Promise<ConsoleSession | undefined> => {
    if (text === null) return undefined;
    let session: ConsoleSession;
    try {
      session = JSON.parse(text) as ConsoleSession;
    } catch {
      return undefined;
    }
    if (!(session.absoluteExpiresAt > now)) {
      await client.del(prefix + idHash).catch(unavailable);
      return undefined;
    }
    return session;
  };
  return {
    async create(idHash, session, idleSeconds) {
      await client.set(prefix + idHash, JSON.stringify(session), 'EX', idleSeconds).catch(unavailable);
    },
    touch: async (idHash, idleSeconds, now) =>
      liveSession(idHash, await client.getex(prefix + idHash, 'EX', idleSeconds).catch(unavailable), now),
    peek: async (idHash, now) => liveSession(idHash, await client.get(prefix + idHash).catch(unavailable), now),
    async delete(idHash) {
      await client.del(prefix + idHash).catch(unavailable);
    },
  };
}
