import { inCheckPhase } from '@hmac-kit/middleware/node';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** The real one, taken before any test fakes the timers. */
const realSetImmediate = setImmediate;

describe('inCheckPhase', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs what one turn queued in one check-phase callback, in order, each once', async () => {
    const ran: string[] = [];
    const phases: number[] = [];
    let phase = 0;
    // An immediate queued before the batch runs before it: the batch is a check-phase callback.
    setImmediate(() => {
      phase++;
    });
    for (const name of ['a', 'b', 'c']) {
      inCheckPhase(() => {
        ran.push(name);
        phases.push(phase);
      });
    }
    expect(ran).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(phases).toEqual([1, 1, 1]);
  });

  it('calls a run queued with an argument with that argument, in its own async context, in order with runs without one', async () => {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const store = new AsyncLocalStorage<string>();
    const seen: Array<[unknown, string | undefined]> = [];
    // One function for every request (forward-auth's verifyInBatch): its state is the argument.
    const one = (argument: { name: string }) => seen.push([argument.name, store.getStore()]);
    store.run('ctx-a', () => inCheckPhase(one, { name: 'a' }));
    store.run('ctx-b', () => inCheckPhase(() => seen.push(['b', store.getStore()])));
    store.run('ctx-c', () => inCheckPhase(one, { name: 'c' }));
    // A run without an argument is called with none (undefined), as before.
    let argumentsSeen = -1;
    inCheckPhase(function (this: unknown, ...rest: unknown[]) {
      argumentsSeen = rest.filter((value) => value !== undefined).length;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([
      ['a', 'ctx-a'],
      ['b', 'ctx-b'],
      ['c', 'ctx-c'],
    ]);
    expect(argumentsSeen).toBe(0);
  });

  it('puts work queued while a batch runs into the next batch, so a run that queues again cannot starve the loop', async () => {
    const order: string[] = [];
    inCheckPhase(() => {
      order.push('first');
      inCheckPhase(() => order.push('queued by first'));
      setImmediate(() => order.push('immediate after first batch'));
    });
    inCheckPhase(() => order.push('second'));
    await vi.waitFor(() => expect(order).toHaveLength(4));
    expect(order).toEqual(['first', 'second', 'queued by first', 'immediate after first batch']);
  });

  it('finishes the batch when a run throws, then throws each error from a check-phase callback of its own', async () => {
    vi.useFakeTimers({ toFake: ['setImmediate'] });
    const ran: string[] = [];
    inCheckPhase(() => {
      ran.push('a');
      throw new Error('first failure');
    });
    inCheckPhase(() => {
      ran.push('b');
      throw new Error('second failure');
    });
    inCheckPhase(() => ran.push('c'));
    // The batch runs in the real check phase (inCheckPhase schedules with the setImmediate of
    // when it loaded); the rethrow goes through the (fake) global one.
    await new Promise((resolve) => realSetImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c']);
    // Each error from a callback of its own, in order: none is lost (review-batch: only the first
    // was thrown before, the second was dropped).
    expect(vi.getTimerCount()).toBe(2);
    expect(() => vi.advanceTimersToNextTimer()).toThrow('first failure');
    expect(() => vi.advanceTimersToNextTimer()).toThrow('second failure');
    expect(vi.getTimerCount()).toBe(0);
  });
});
