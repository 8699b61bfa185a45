/**
 * Review of the check-phase batches: at most 64 runs wait (see check-phase.ts for why: a client
 * pipelining thousands of requests in one write had them all parsed and held at once). The 65th
 * run queued first runs the 64 waiting ones, in order, outside any batch; a run of a batch that
 * queues 64 more never runs them early (they go to the next batch: a run that queues again cannot
 * starve the loop).
 */
import { inCheckPhase } from '@hmac-kit/middleware/node';
import { describe, expect, it } from 'vitest';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('review-batch: inCheckPhase holds at most 64 waiting runs', () => {
  it('runs the 64 waiting when a 65th is queued, and the rest in the check phase', async () => {
    const ran: number[] = [];
    for (let index = 0; index < 64; index++) inCheckPhase(() => ran.push(index));
    expect(ran).toEqual([]);
    inCheckPhase(() => ran.push(64));
    expect(ran).toEqual(Array.from({ length: 64 }, (_, index) => index));
    inCheckPhase(() => ran.push(65));
    await turn();
    expect(ran).toEqual(Array.from({ length: 66 }, (_, index) => index));
  });

  it('a run of a batch that queues 100 more: none runs early, all in the next batch', async () => {
    const ran: string[] = [];
    inCheckPhase(() => {
      for (let index = 0; index < 100; index++) inCheckPhase(() => ran.push(`queued ${index}`));
      ran.push('first done');
    });
    inCheckPhase(() => ran.push('second'));
    await turn();
    expect(ran).toEqual(['first done', 'second']);
    await turn();
    expect(ran).toHaveLength(102);
  });
});
