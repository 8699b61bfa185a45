import { loadConfig } from '@hmac-kit/server';
import { describe, expect, it } from 'vitest';
import { describeRedisTarget, parseRedisUrl, RedisUrlError } from '../src/redis-url.js';

describe('--redis URL forms', () => {
  it('reads one server, with credentials, database and TLS', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2')).toMatchObject({
      kind: 'standalone',
      node: { host: '127.0.0.1', port: 6380 },
      db: 2,
      tls: false,
      replicas: 0,
    });
    expect(parseRedisUrl('rediss://user:p%40ss@cache.internal')).toMatchObject({
      kind: 'standalone',
      node: { host: 'cache.internal', port: 6379 },
      username: 'user',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis://:secret@[::1]:7000')).toMatchObject({
      node: { host: '::1', port: 7000 },
      password: 'secret',
    });
  });

  it('reads a cluster: seed nodes, default port, one replica confirmation by default', () => {
    expect(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2,[fd00::3]:7002')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 6379 },
        { host: 'fd00::3', port: 7002 },
      ],
      tls: false,
      replicas: 1,
      replicaTimeoutMs: 500,
    });
    expect(parseRedisUrl('rediss+cluster://a:1?replicas=0')).toMatchObject({ tls: true, replicas: 0 });
  });

  it('reads sentinels, the master name, a database and the replica settings', () => {
    expect(parseRedisUrl('redis+sentinel://s1:26379,s2/mymaster/3?replicas=2&replicaTimeout=250')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      masterName: 'mymaster',
      db: 3,
      tls: false,
      replicas: 2,
      replicaTimeoutMs: 250,
    });
  });

  it('refuses what it cannot use with one line, never echoing the password', () => {
    const cases = [
      'http://h:1',
      'redis://',
      'redis://h1:1,h2:2',
      'redis://h:99999',
      'redis://h:1/x',
      'redis+cluster://h:1/0',
      'redis+sentinel://s:1',
      'redis+sentinel://s:1/m/0/extra',
      'redis+cluster://h:1?replica=1',
      'redis+cluster://h:1?replicas=-1',
      'redis+cluster://h:1?replicaTimeout=0',
      'redis+cluster://h:1?replicaTimeout=5000',
      'redis+mesh://h:1',
      'redis://u:topsecret@h:1/notanumber',
    ];
    for (const url of cases) {
      let error: unknown;
      try {
        parseRedisUrl(url);
      } catch (caught) {
        error = caught;
      }
      expect(error, url).toBeInstanceOf(RedisUrlError);
      expect((error as Error).message, url).toMatch(/^invalid redis URL: /);
      expect((error as Error).message).not.toContain('topsecret');
    }
  });

  it('describes a target without its credentials', () => {
    expect(describeRedisTarget(parseRedisUrl('redis+sentinel://u:pw@s1:1,s2:2/m'))).toBe(
      'redis+sentinel://s1:1,s2:2/m/0',
    );
    expect(describeRedisTarget(parseRedisUrl('rediss+cluster://:pw@[::1]:7000'))).toBe('rediss+cluster://[::1]:7000');
  });

  it('is what loadConfig accepts for --redis and HMAC_KIT_REDIS_URL', () => {
    expect(loadConfig({ flags: { redis: 'redis+cluster://h:1,h:2' } }).redis).toBe('redis+cluster://h:1,h:2');
    expect(() => loadConfig({ env: { HMAC_KIT_REDIS_URL: 'redis+sentinel://u:hunter2@s:1' } })).toThrow(
      /^invalid redis URL: expected redis\+sentinel:/,
    );
  });
});
