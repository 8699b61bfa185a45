/** Generated request ids: 128 random bits as 32 hex digits, distinct across batches of the pool. */
import { describe, expect, it } from 'vitest';
import { newRequestId } from '../src/request-context.js';

describe('newRequestId', () => {
  it('gives 32 lowercase hex digits, never the same twice, across several refills of its pool', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 2000; index++) {
      const id = newRequestId();
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2000);
  });
});
