/**
 * Review (session 5), `hmac-kit request -v`: the server's `signature_base` is JSON-decoded and
 * printed on the developer's terminal. The server is whatever the URL names (or whoever sits on a
 * plain-HTTP path to it): its report must not drive the terminal (ESC/CSI colours and cursor
 * moves, OSC 52 clipboard writes, BEL, bidi overrides that reorder the diff), nor exhaust the CLI
 * with a huge base (the line diff is quadratic).
 */
import { describe, expect, it } from 'vitest';
import { printBaseDiff, printReport, serverReportOf, visible } from '../src/base-diff.js';
import type { Io } from '../src/output.js';

function capture(): { io: Io; err: () => string } {
  let err = '';
  const io: Io = {
    stdout: () => {},
    stderr: (text) => {
      err += text;
    },
    env: {},
    readStdin: async () => new Uint8Array(0),
  };
  return { io, err: () => err };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for what a terminal would act on.
const ACTS_ON_TERMINAL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const hostile = JSON.stringify({
  type: 'urn:hmac-kit:problem:signature_invalid',
  code: 'signature_invalid',
  signature_base: {
    scheme: 'rfc9421\u001b[2J',
    sections: [
      {
        name: 'signature base\u001b]52;c;ZWNobyBwd25lZA==\u0007',
        text: '"@method": GET\n"@path": /ok\u001b[1A\u001b[2K"@path": /forged\r\n\u202egnp.exe\u009b31m',
      },
    ],
  },
});

describe('review5: request -v prints what the server sent, not what it would make the terminal do', () => {
  it('escapes control characters in names, texts and the scheme, in the diff and in the plain report', () => {
    const report = serverReportOf('application/problem+json', new TextEncoder().encode(hostile));
    expect(report).toBeDefined();
    const client = { scheme: 'rfc9421', sections: [{ name: 'signature base', text: '"@method": GET\n"@path": /ok' }] };
    for (const [what, print] of [
      ['diff', (io: Io) => printBaseDiff(io, client, report!, false)],
      ['diff, same scheme', (io: Io) => printBaseDiff(io, { ...client, scheme: report!.scheme }, report!, false)],
      ['report', (io: Io) => printReport(io, report!)],
    ] as const) {
      const { io, err } = capture();
      print(io);
      expect(err().length, what).toBeGreaterThan(0);
      expect(ACTS_ON_TERMINAL.test(err()), `${what}: ${JSON.stringify(err())}`).toBe(false);
      expect(err(), what).toContain('\\x1b');
    }
    expect(visible('tab\tstays')).toBe('tab\tstays');
    expect(visible('\u001b[31m\u202e')).toBe('\\x1b[31m\\u202e');
  });

  it('a huge server base is printed, not diffed line against line', () => {
    const huge = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n');
    const server = { scheme: 'x-api', sections: [{ name: 'string to sign', text: huge }] };
    const client = {
      scheme: 'x-api',
      sections: [{ name: 'string to sign', text: huge.replace('line 7', 'line seven') }],
    };
    const { io, err } = capture();
    printBaseDiff(io, client, server, false);
    expect(err()).toMatch(/too long to diff/);
    expect(err()).toContain('line 19999');
  });
});
