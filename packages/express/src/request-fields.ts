/**
 * How the Express middleware reads the request: without V8's inline caches, which every Express
 * request defeats (see `field`).
 */
import { IncomingMessage } from 'node:http';
import type { Request } from 'express';

/**
 * `req[name]`, read through `Reflect.get` rather than a property access. Every Express request
 * has a hidden class of its own (Express sets each request's prototype, see `prepareSlots` in
 * index.ts), so each `req.x` misses V8's megamorphic stub cache and goes to the runtime
 * (`Runtime_LoadIC_Miss`: ~1.3-1.7k instructions per read, 5 per request in this package,
 * callgrind over HTTP), which then fills the cache with an entry no later request can hit.
 * TurboFan compiles `Reflect.get(req, name)` into a call of the `GetProperty` builtin, which walks
 * the object and its prototypes without a feedback vector and without the runtime.
 *
 * Invariant: `Reflect.get(target, key)` is `target[key]` by the language's definition (the same
 * [[Get]], with `target` as the receiver of a getter), so this is the plain read; only V8's path
 * to the value differs.
 */
export function field<Name extends keyof Request>(req: Request, name: Name): Request[Name] {
  return Reflect.get(req, name);
}

/**
 * `req[name] = value`, through `Reflect.set` rather than a property store, for {@link field}'s reason:
 * a store on an Express request misses V8's inline caches (`Runtime_StoreIC_Miss`, which also builds
 * a store handler no later request can use: ~16k instructions for the `req.body` of
 * `hmacAuth({ json })`, callgrind over HTTP, session 21); `Reflect.set` runs the same [[Set]] in
 * V8's C++ builtin without that machinery.
 *
 * Invariant: `Reflect.set(target, key, value)` is the assignment's [[Set]] with `target` as the
 * receiver (a setter on the chain runs with the request as `this`; a new property is added to the
 * request); where it answers `false` (a read-only property, a non-extensible request) the
 * assignment in this strict-mode module throws a `TypeError`, and so does this. Held against the
 * assignment in packages/express/test/request-fields.test.ts.
 */
export function setField<Name extends keyof Request>(req: Request, name: Name, value: Request[Name]): void {
  if (!Reflect.set(req, name, value)) {
    throw new TypeError(`Cannot assign to read only property '${String(name)}' of the request`);
  }
}

/**
 * `look(prototype)` for a request's direct prototype, looked at once per prototype: answers kept
 * per prototype (a WeakMap), the last one in front of it (every request of one app has the same
 * prototype, so the map is skipped). A request without a prototype answers `none`. What
 * `expressProtocolBelow` here and `prepareSlots` in index.ts are made of.
 *
 * @example
 * ```ts
 * const isPlain = perPrototype((prototype) => prototype === Object.prototype, false);
 * isPlain({}); // true, and the next object with that prototype is answered from the front
 * ```
 */
export function perPrototype<Answer>(look: (prototype: object) => Answer, none: Answer): (req: object) => Answer {
  const answers = new WeakMap<object, Answer>();
  let lastPrototype: object | undefined;
  let lastAnswer = none;
  return (req) => {
    const prototype: object | null = Object.getPrototypeOf(req);
    if (prototype === null) return none;
    if (prototype === lastPrototype) return lastAnswer;
    let answer = answers.get(prototype);
    if (answer === undefined) {
      answer = look(prototype);
      answers.set(prototype, answer);
    }
    lastPrototype = prototype;
    lastAnswer = answer;
    return answer;
  };
}

/** Where `protocol` resolves for requests of one prototype: Express's getter, on `owner`, with nothing of its own below it. */
interface ExpressProtocol {
  /** The prototypes between the request and `owner` (the request's direct prototype, usually `app.request`, and any between). */
  readonly below: readonly object[];
  /** Express's request prototype (`express.request`), where the getter was found. */
  readonly owner: object;
  readonly getter: () => unknown;
}

/**
 * Where `protocol` resolves, from the request's direct prototype up, to Express's own getter: an
 * accessor named `protocol` on the object right above `IncomingMessage.prototype`, where Express
 * defines its request getters (`express/lib/request.js`, shared by every app and sub-app; an app's
 * `app.request` sits below it). Answers the prototypes below that object, which have no `protocol` of
 * their own when looked at, that object and its getter; `null` when an override below or any other
 * shape answers `protocol`. Looked at once per prototype ({@link perPrototype}); {@link protocolOf}
 * checks per request that none of the prototypes below has gained a `protocol` since (an app that
 * defines `app.request.protocol` after its first request) and that Express's getter is still the
 * one on its object (replaced on `express.request` after the first request: review17).
 */
const expressProtocolBelow = perPrototype<ExpressProtocol | null>((prototype) => {
  const below: object[] = [];
  for (let at: object | null = prototype; at !== null; at = Object.getPrototypeOf(at)) {
    const descriptor = Object.getOwnPropertyDescriptor(at, 'protocol');
    if (descriptor === undefined) {
      below.push(at);
      continue;
    }
    return Object.getPrototypeOf(at) === IncomingMessage.prototype &&
      typeof descriptor.get === 'function' &&
      descriptor.get.name === 'protocol'
      ? Object.freeze({ below: Object.freeze(below), owner: at, getter: descriptor.get })
      : null;
  }
  return null;
}, null);

/** `Object.prototype.__lookupGetter__`: an own accessor's getter without a descriptor object allocated per call. */
const lookupGetter = (Object.prototype as unknown as { __lookupGetter__: (this: object, name: string) => unknown })
  .__lookupGetter__;

/**
 * Whether `protocol` still resolves to Express's getter as looked at: none of the prototypes below has a
 * `protocol` of its own now, and the getter on Express's object is the same function.
 */
function stillExpressProtocol(found: ExpressProtocol): boolean {
  const below = found.below;
  for (let index = 0; index < below.length; index++) {
    if (Object.hasOwn(below[index]!, 'protocol')) return false;
  }
  return lookupGetter.call(found.owner, 'protocol') === found.getter;
}

type TrustProxy = (address: string | undefined, hop: number) => boolean;

/**
 * `req.protocol`, without running Express's getter when no proxy is trusted for the request's
 * peer. The getter (Express 4 and 5) reads `this.socket` twice and `this.app` on the request's
 * hidden class of its own: three more inline-cache misses (~3k instructions per request,
 * callgrind), where this reads them once each through `GetProperty`.
 *
 * Fast path: `protocol` is Express's getter (`expressProtocolBelow`: no `protocol` of the request's
 * own, nor, now, of any prototype below Express's, such as one an app defined on `app.request` after
 * its first request, and Express's getter not replaced since) and the app's compiled `trust proxy fn` does not trust the peer address for hop 0.
 * Invariant: that getter answers `this.socket.encrypted ? 'https' : 'http'` exactly then (Express
 * 5; Express 4 reads `this.connection`, node's alias of `socket`), which is what this answers;
 * in every other case (a trusted proxy, where X-Forwarded-Proto counts; an override; a `trust
 * proxy fn` that is not a function) the getter itself runs. The trust function is called once
 * more than Express would when it trusts the peer (proxy-addr's compiled functions are pure).
 * Held to `req.protocol` over random trust settings, peers, TLS and X-Forwarded-Proto headers, and
 * overridden prototypes in packages/express/test/request-fields.test.ts.
 */
export function protocolOf(req: Request): string {
  const found = expressProtocolBelow(req);
  if (found !== null && !Object.hasOwn(req, 'protocol') && stillExpressProtocol(found)) {
    const socket = field(req, 'socket');
    const app = field(req, 'app');
    const trust: unknown = socket != null && app != null ? app.get('trust proxy fn') : undefined;
    if (typeof trust === 'function' && !(trust as TrustProxy)(socket.remoteAddress, 0)) {
      return (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    }
  }
  return field(req, 'protocol');
}
