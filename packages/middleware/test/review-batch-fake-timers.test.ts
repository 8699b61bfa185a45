/**
 * Review of the check-phase batches (f2506a8): fake timers (vitest's and jest's fake
 * `setImmediate` by default) installed after the module loaded. Before the fix, a batch queued
 * while `setImmediate` was fake never ran unless the test advanced the timers, and once they were
 * uninstalled with it pending the queue stayed non-empty, so no later `inCheckPhase` scheduled a
 * batch again: every later request of the process waited forever (both checks below failed).
 */
import { inCheckPhase } from '@hmac-kit/middleware/node';
import { afterEach, describe, expect, it, vi } from 'vitest';

const realSetImmediate = setImmediate;
const turn = () => new Promise((resolve) => realSetImmediate(resolve));

describe('review-batch: inCheckPhase under fake timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a batch queued under fake timers that are never advanced, and every batch after they are uninstalled', async () => {
    const ran: string[] = [];
    vi.useFakeTimers();
    inCheckPhase(() => ran.push('under fake timers'));
    await turn();
    expect(ran).toEqual(['under fake timers']);
    inCheckPhase(() => ran.push('queued, then the fake timers go'));
    vi.useRealTimers();
    await turn();
    inCheckPhase(() => ran.push('after'));
    await turn();
    expect(ran).toEqual(['under fake timers', 'queued, then the fake timers go', 'after']);
  });
});
