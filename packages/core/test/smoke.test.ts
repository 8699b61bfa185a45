import { PACKAGE_NAME } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';

describe('workspace resolution', () => {
  it('resolves the core from source', () => {
    expect(PACKAGE_NAME).toBe('@hmac-kit/core');
  });
});
