/**
 * `protocolOf` (the Express middleware's `req.protocol` without Express's getter when no proxy is
 * trusted) answers what `req.protocol` answers: over random `trust proxy` settings, peer addresses,
 * TLS or not, X-Forwarded-Proto headers, sub-apps, and apps whose requests override `protocol`.
 * `field` is `Reflect.get`, the plain read, for getters with the request as receiver too.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { field, protocolOf, setField } from '../src/request-fields.js';

const trustSettings = fc.constantFrom<unknown>(
  false,
  true,
  'loopback',
  'uniquelocal',
  1,
  2,
  '10.0.0.0/8',
  '127.0.0.1, 192.168.1.0/24',
  (address: string) => address === '10.1.2.3',
);
const peers = fc.constantFrom('127.0.0.1', '::1', '10.1.2.3', '192.168.1.7', '203.0.113.9', '::ffff:127.0.0.1');
const forwarded = fc.option(fc.constantFrom('https', 'http', 'HTTPS', 'https, http', ' ws ,x', '', 'ftp'), {
  nil: undefined,
});

/** A request as Express hands it to middleware: its socket, its headers, the app's request prototype. */
function requestOf(prototype: object, peer: string, encrypted: boolean, proto: string | undefined): express.Request {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: peer });
  if (encrypted) Object.defineProperty(socket, 'encrypted', { value: true });
  const req = new IncomingMessage(socket);
  req.headers = proto === undefined ? { host: 'api.example' } : { host: 'api.example', 'x-forwarded-proto': proto };
  Object.setPrototypeOf(req, prototype);
  return req as unknown as express.Request;
}

describe('protocolOf', () => {
  it('answers req.protocol over random trust settings, peers, TLS and X-Forwarded-Proto', () => {
    fc.assert(
      fc.property(
        trustSettings,
        fc.boolean(),
        fc.array(fc.tuple(peers, fc.boolean(), forwarded), { minLength: 1, maxLength: 6 }),
        (trust, mounted, requests) => {
          const app = express();
          app.set('trust proxy', trust);
          const sub = express();
          app.use('/sub', sub);
          // A mounted sub-app's requests have its prototype, and its settings inherit the parent's.
          const prototype = mounted ? sub.request : app.request;
          for (const [peer, encrypted, proto] of requests) {
            const req = requestOf(prototype, peer, encrypted, proto);
            expect(protocolOf(req)).toBe(req.protocol);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('runs the request’s own protocol when an app or a request overrides it', () => {
    fc.assert(
      fc.property(
        peers,
        fc.boolean(),
        forwarded,
        fc.constantFrom('prototype', 'own', 'getter'),
        (peer, encrypted, proto, how) => {
          const app = express();
          let prototype: object = app.request;
          if (how === 'prototype') {
            prototype = Object.create(app.request, { protocol: { value: 'gopher', configurable: true } });
          } else if (how === 'getter') {
            prototype = Object.create(app.request, {
              protocol: {
                configurable: true,
                get(this: express.Request) {
                  return this.headers['x-forwarded-proto'] ? 'forwarded' : 'direct';
                },
              },
            });
          }
          const req = requestOf(prototype, peer, encrypted, proto);
          if (how === 'own') Object.defineProperty(req, 'protocol', { value: 'own', configurable: true });
          expect(protocolOf(req)).toBe(req.protocol);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('answers req.protocol while the app changes its mind between requests (overrides and trust defined later)', () => {
    // The per-prototype answer is looked at once; an override defined on app.request (or on a
    // prototype between it and the request) after earlier requests, or removed again, is seen at the next.
    const change = fc.oneof(
      fc.record({ kind: fc.constant('request' as const), peer: peers, encrypted: fc.boolean(), proto: forwarded }),
      fc.record({ kind: fc.constant('trust' as const), trust: trustSettings }),
      fc.record({
        kind: fc.constant('define' as const),
        on: fc.constantFrom('app', 'between', 'express'),
        as: fc.constantFrom('value', 'getter'),
      }),
      fc.record({ kind: fc.constant('remove' as const), on: fc.constantFrom('app', 'between', 'express') }),
    );
    // Express's own getter, on express.request (shared by every app): replaced and put back (review17).
    const expressRequest = (express as unknown as { request: object }).request;
    const expressGetter = Object.getOwnPropertyDescriptor(expressRequest, 'protocol')!;
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 12 }), (changes) => {
        const app = express();
        const between = Object.create(app.request) as object;
        const on = (where: 'app' | 'between' | 'express') =>
          where === 'app' ? app.request : where === 'between' ? between : expressRequest;
        try {
          run(changes, app, between, on);
        } finally {
          Object.defineProperty(expressRequest, 'protocol', expressGetter);
        }
      }),
      { numRuns: 300 },
    );
    function run(
      changes: Array<
        | { kind: 'request'; peer: string; encrypted: boolean; proto: string | undefined }
        | { kind: 'trust'; trust: unknown }
        | { kind: 'define'; on: 'app' | 'between' | 'express'; as: 'value' | 'getter' }
        | { kind: 'remove'; on: 'app' | 'between' | 'express' }
      >,
      app: express.Express,
      between: object,
      on: (where: 'app' | 'between' | 'express') => object,
    ) {
      for (const step of changes) {
        if (step.kind === 'request') {
          const req = requestOf(between, step.peer, step.encrypted, step.proto);
          expect(protocolOf(req)).toBe(req.protocol);
        } else if (step.kind === 'trust') {
          app.set('trust proxy', step.trust);
        } else if (step.kind === 'define') {
          const target = on(step.on);
          Object.defineProperty(
            target,
            'protocol',
            step.as === 'value'
              ? { value: `${step.on}-value`, configurable: true }
              : {
                  configurable: true,
                  get(this: express.Request) {
                    return this.headers['x-forwarded-proto'] ? 'forwarded' : 'direct';
                  },
                },
          );
        } else if (step.on === 'express') {
          Object.defineProperty(expressRequest, 'protocol', expressGetter);
        } else {
          Reflect.deleteProperty(on(step.on), 'protocol');
        }
      }
    }
  });

  it('answers https for a TLS socket and http otherwise when no proxy is trusted', () => {
    const app = express();
    expect(protocolOf(requestOf(app.request, '127.0.0.1', true, 'http'))).toBe('https');
    expect(protocolOf(requestOf(app.request, '127.0.0.1', false, 'https'))).toBe('http');
    app.set('trust proxy', 'loopback');
    expect(protocolOf(requestOf(app.request, '127.0.0.1', false, 'https'))).toBe('https');
  });

  it('takes the fast path (Express’s getter not run) when the peer is not trusted, the getter when it is', () => {
    const app = express();
    const shared = Object.getPrototypeOf(app.request) as object;
    const original = Object.getOwnPropertyDescriptor(shared, 'protocol')!;
    let calls = 0;
    const getter = original.get!;
    // A wrapper that counts, with the name and place of Express's getter.
    const wrapped = {
      protocol(this: express.Request) {
        calls += 1;
        return getter.call(this);
      },
    }.protocol;
    Object.defineProperty(shared, 'protocol', { ...original, get: wrapped });
    try {
      const fresh = express();
      const direct = requestOf(fresh.request, '203.0.113.9', true, 'http');
      expect(protocolOf(direct)).toBe('https');
      expect(calls).toBe(0);
      fresh.set('trust proxy', true);
      const proxied = requestOf(fresh.request, '203.0.113.9', false, 'https');
      expect(protocolOf(proxied)).toBe('https');
      expect(calls).toBe(1);
    } finally {
      Object.defineProperty(shared, 'protocol', original);
    }
  });

  it('field() reads as a property access does, getters with the request as receiver', () => {
    const app = express();
    const req = requestOf(app.request, '127.0.0.1', false, undefined);
    expect(field(req, 'headers')).toBe(req.headers);
    expect(field(req, 'protocol')).toBe(req.protocol);
    expect(field(req, 'app')).toBe(app);
    expect(field(req, 'socket')).toBe(req.socket);
  });

  it('property: setField() stores as strict-mode assignment does (new, existing, read-only, setter on the chain, sealed), or throws where it throws', () => {
    type Shape = 'new' | 'own' | 'readonly' | 'setter' | 'readonly-inherited' | 'sealed' | 'frozen';
    /** A request whose `body` is of `shape`; `log` records the setter's receiver and value. */
    function requestWith(shape: Shape, log: unknown[]): express.Request {
      const app = express();
      const between = Object.create(app.request) as object;
      if (shape === 'setter') {
        Object.defineProperty(between, 'body', {
          configurable: true,
          set(this: unknown, value: unknown) {
            log.push(this, value);
          },
        });
      }
      if (shape === 'readonly-inherited') Object.defineProperty(between, 'body', { value: 'kept', writable: false });
      const req = requestOf(between, '127.0.0.1', false, undefined);
      if (shape === 'own') req.body = 'before';
      if (shape === 'readonly') Object.defineProperty(req, 'body', { value: 'kept', writable: false });
      if (shape === 'sealed') Object.seal(req);
      if (shape === 'frozen') Object.freeze(req);
      return req;
    }
    /** What happened: thrown or not, the error's class, the own descriptor after, the setter's calls. */
    function outcome(store: (req: express.Request) => void, shape: Shape) {
      const log: unknown[] = [];
      const req = requestWith(shape, log);
      let thrown: string | undefined;
      try {
        store(req);
      } catch (error) {
        thrown = (error as Error).constructor.name;
      }
      return {
        thrown,
        own: Object.getOwnPropertyDescriptor(req, 'body'),
        read: req.body,
        setterReceiverIsRequest: log.length === 0 ? undefined : log[0] === req,
        setterValue: log[1],
      };
    }
    fc.assert(
      fc.property(
        fc.constantFrom<Shape>('new', 'own', 'readonly', 'setter', 'readonly-inherited', 'sealed', 'frozen'),
        fc.jsonValue(),
        (shape, value) => {
          expect(outcome((req) => setField(req, 'body', value), shape)).toEqual(
            outcome((req) => {
              req.body = value;
            }, shape),
          );
        },
      ),
    );
  });
});
