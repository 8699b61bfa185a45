/**
 * `hmac-kit request -v` against a server running with `--debug-signatures`: the refusal carries the
 * server's signature base (`signature_base` in the problem body), printed here as a line diff
 * against the base the client signed, so the line a proxy, a framework or a canonicalisation rule
 * changed stands out (docs/troubleshooting.md#debug-signatures).
 */
import type { SignatureBaseReport, SignatureBaseSection } from '@hmac-kit/core';
import type { Io } from './output.js';

const RED = '\u001b[31m';
const GREEN = '\u001b[32m';
const BOLD = '\u001b[1m';
const RESET = '\u001b[0m';

// Control characters (C0 but tab, DEL, C1) and the bidirectional overrides: a terminal acts on them
// (colours, cursor moves, OSC 52 clipboard writes, reordered text) instead of showing them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters.
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` safe to print on a terminal: every control character as a visible escape (`\x1b`,
 * `\u202e`). The report comes from the server (JSON-decoded, so `\u001b` arrives as ESC), and a
 * hostile or intercepted server must not drive the developer's terminal through it.
 *
 * @example
 * ```ts
 * visible('a\u001b]52;c;Zm9v\u0007'); // 'a\\x1b]52;c;Zm9v\\x07'
 * ```
 */
export function visible(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** The section's lines (each made {@link visible}): its text, or its base64 as one line. */
function linesOf(section: SignatureBaseSection): string[] {
  if (section.text !== undefined) return section.text.split('\n').map(visible);
  return [`(base64) ${visible(section.base64 ?? '')}`];
}

/** Past this many line pairs the diff table (client lines x server lines) is not built: the server's base is printed. */
const MAX_DIFF_CELLS = 4_000_000;

/** The `signature_base` of a problem+json response body, when it has a well-formed one. */
export function serverReportOf(contentType: string | null, body: Uint8Array): SignatureBaseReport | undefined {
  if (!contentType || !/^application\/problem\+json\b/i.test(contentType)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return undefined;
  }
  const report = (parsed as { signature_base?: unknown } | null)?.signature_base as
    | { scheme?: unknown; sections?: unknown }
    | undefined;
  if (!report || typeof report.scheme !== 'string' || !Array.isArray(report.sections)) return undefined;
  const sections: SignatureBaseSection[] = [];
  for (const entry of report.sections as Array<Record<string, unknown>>) {
    if (!entry || typeof entry.name !== 'string') return undefined;
    if (typeof entry.text === 'string') sections.push({ name: entry.name, text: entry.text });
    else if (typeof entry.base64 === 'string') sections.push({ name: entry.name, base64: entry.base64 });
    else return undefined;
  }
  return { scheme: report.scheme, sections };
}

/** Prints a report under `-v`: each section's lines after `* <name>:`. */
export function printReport(io: Io, report: SignatureBaseReport): void {
  for (const section of report.sections) {
    io.stderr(
      `* ${visible(section.name)}:\n${linesOf(section)
        .map((line) => `*   ${line}`)
        .join('\n')}\n`,
    );
  }
}

/** One line of a diff: kept (both), or only the client's (`-`), or only the server's (`+`). */
export interface DiffLine {
  kind: ' ' | '-' | '+';
  text: string;
}

/**
 * A line diff (longest common subsequence; bases are a few dozen lines) of `client` against
 * `server`: lines only the client signed are `-`, lines only the server rebuilt are `+`.
 *
 * @example
 * ```ts
 * diffLines(['a', 'b'], ['a', 'c']); // [{kind:' ',text:'a'}, {kind:'-',text:'b'}, {kind:'+',text:'c'}]
 * ```
 */
export function diffLines(client: readonly string[], server: readonly string[]): DiffLine[] {
  const rows = client.length;
  const columns = server.length;
  // lengths[i][j]: longest common subsequence of client[i..] and server[j..].
  const lengths: number[][] = Array.from({ length: rows + 1 }, () => new Array<number>(columns + 1).fill(0));
  for (let i = rows - 1; i >= 0; i--) {
    for (let j = columns - 1; j >= 0; j--) {
      lengths[i]![j] =
        client[i] === server[j] ? lengths[i + 1]![j + 1]! + 1 : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  // Within a changed run the client's lines come first, then the server's (as in a unified diff).
  let removed: DiffLine[] = [];
  let added: DiffLine[] = [];
  const flush = () => {
    out.push(...removed, ...added);
    removed = [];
    added = [];
  };
  while (i < rows || j < columns) {
    if (i < rows && j < columns && client[i] === server[j]) {
      flush();
      out.push({ kind: ' ', text: client[i]! });
      i++;
      j++;
    } else if (j >= columns || (i < rows && lengths[i + 1]![j]! >= lengths[i]![j + 1]!)) {
      removed.push({ kind: '-', text: client[i]! });
      i++;
    } else {
      added.push({ kind: '+', text: server[j]! });
      j++;
    }
  }
  flush();
  return out;
}

/**
 * Prints the server's signature base as a diff against the client's, section by section (`-`
 * client only, `+` server only), in colour on a terminal. Says so when the bases are the same:
 * then the MAC itself differs (secret, key id or algorithm).
 */
export function printBaseDiff(
  io: Io,
  client: SignatureBaseReport | undefined,
  server: SignatureBaseReport,
  colour: boolean,
): void {
  const paint = (code: string, text: string) => (colour ? `${code}${text}${RESET}` : text);
  if (client === undefined || client.scheme !== server.scheme) {
    io.stderr(
      `* the server parsed the request as ${visible(server.scheme)}${client ? `, not ${client.scheme}` : ''}; its signature base:\n`,
    );
    printReport(io, server);
    return;
  }
  const pairs = server.sections.map((section) => {
    const mine = client.sections.find((candidate) => candidate.name === section.name);
    return { name: section.name, client: mine ? linesOf(mine) : [], server: linesOf(section) };
  });
  if (pairs.some((pair) => pair.client.length * pair.server.length > MAX_DIFF_CELLS)) {
    io.stderr('* the signature bases are too long to diff; the server rebuilt:\n');
    printReport(io, server);
    return;
  }
  let differing = 0;
  const lines: string[] = [];
  for (const pair of pairs) {
    const diff = diffLines(pair.client, pair.server);
    lines.push(`* ${visible(pair.name)}:`);
    for (const line of diff) {
      if (line.kind === ' ') lines.push(`*   ${line.text}`);
      else {
        differing++;
        lines.push(paint(line.kind === '-' ? RED : GREEN, `* ${line.kind} ${line.text}`));
      }
    }
  }
  if (differing === 0) {
    io.stderr(
      "* the server's signature base is the client's, line for line: the MAC itself differs (wrong secret, key id or algorithm?)\n",
    );
    return;
  }
  io.stderr(
    `${paint(BOLD, "* signature base mismatch: the server's (debug signatures) against the client's")} ` +
      `(${paint(RED, '- client signed')}, ${paint(GREEN, '+ server rebuilt')}):\n${lines.join('\n')}\n`,
  );
}
