/**
 * `keepTickShape()` (hmacAuth() calls it once per process): it holds one of node's own tick
 * objects, the `{ [async_id], [trigger_async_id], callback, args }` literal of `process.nextTick`,
 * so that the maps of that literal stay alive (docs/performance.md, "Session 13: Fastify adapter").
 * It schedules one tick however often it is called, holds an object of the tick literal's shape,
 * and leaves later ticks as they were.
 */
import { describe, expect, it } from 'vitest';
import { hmacAuth } from '../src/index.js';
import { keepTickShape, keptTickObject } from '../src/tick-shape.js';

function nextTick(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

describe('keepTickShape', () => {
  it('holds one tick object of node’s tick literal, scheduled once however often it is called', async () => {
    hmacAuth({ keys: () => undefined });
    keepTickShape();
    keepTickShape();
    await nextTick();
    const kept = keptTickObject();
    expect(kept).toBeTypeOf('object');
    // The tick literal's own shape: two symbol keys, then callback and args.
    expect(Object.keys(kept as object)).toEqual(['callback', 'args']);
    expect(
      Object.getOwnPropertySymbols(kept as object)
        .map((symbol) => symbol.description)
        .sort(),
    ).toEqual(['async_id_symbol', 'trigger_async_id_symbol']);
    // Called again (another plugin instance): still the same object, no further tick scheduled.
    hmacAuth({ keys: () => undefined });
    await nextTick();
    expect(keptTickObject()).toBe(kept);
  });

  it('leaves later ticks as they were: callbacks run in order with their arguments', async () => {
    keepTickShape();
    const seen: unknown[] = [];
    await new Promise<void>((resolve) => {
      process.nextTick((a: number, b: string) => seen.push([a, b]), 1, 'two');
      process.nextTick(() => seen.push('plain'));
      process.nextTick(resolve);
    });
    expect(seen).toEqual([[1, 'two'], 'plain']);
  });
});
