/**
 * `keys create --expires` under a second (session 26, helper review26): durations are whole
 * seconds, so `--expires 0.5s` is 0, and was refused with "--expires must be longer than 0s",
 * which 0.5s is. The message now quotes what was typed and says what is taken: at least 1s.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess, tempDir } from '../../../test-support/processes.js';

describe('keys create --expires under a second', () => {
  it.each([['0'], ['0s'], ['0.5s'], ['0.99']])(
    '--expires %s: exit 2, one line naming it and the minimum, nothing created',
    async (text) => {
      const dir = tempDir();
      const result = await runCliInProcess(['keys', 'create', '--principal', 'billing', '--expires', text], {
        cwd: dir,
      });
      expect([result.code, result.stdout]).toEqual([2, '']);
      expect(result.stderr).toBe(`hmac-kit: invalid duration ${JSON.stringify(text)}: --expires must be at least 1s\n`);
      expect(existsSync(join(dir, '.hmac-kit'))).toBe(false);
    },
  );
});
