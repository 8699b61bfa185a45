/**
 * The code blocks of README.md and docs/*.md, with what each one claims. A block of code (js, ts,
 * sh, bash) must say so in an HTML comment on the line before its fence, invisible on GitHub:
 *
 * - `<!-- snippet: run id=<name> -->`: runs as written; a test executes it by its id
 *   (examples/test/docs-snippets.test.ts) against a real server.
 * - `<!-- snippet: file <path> -->`: the block is that file of the repository, verbatim, and the file
 *   is run by a test (e.g. clients/examples/ by clients/examples/test/examples.test.ts).
 * - `<!-- snippet: synopsis <why> -->`: not a program: a command synopsis with placeholders, an API
 *   listing or a fragment of a larger program; says why.
 *
 * Usage: `node --experimental-strip-types scripts/docs-snippets.ts` lists every block and its mark.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Languages whose blocks must carry a mark. */
export const CODE_LANGUAGES: ReadonlySet<string> = new Set(['js', 'mjs', 'ts', 'sh', 'bash', 'shell', 'javascript']);

export type SnippetMark =
  | { kind: 'run'; id: string }
  | { kind: 'file'; path: string }
  | { kind: 'synopsis'; why: string }
  | { kind: 'none' };

export interface Snippet {
  /** The markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** First word of the info string (`js`, `sh`...), `''` when none. */
  language: string;
  code: string;
  mark: SnippetMark;
}

const MARK = /^<!--\s*snippet:\s*(run|file|synopsis)\b\s*(.*?)\s*-->\s*$/;

function parseMark(line: string | undefined): SnippetMark {
  const found = line === undefined ? null : MARK.exec(line.trim());
  if (!found) return { kind: 'none' };
  const [, kind, rest = ''] = found;
  if (kind === 'run') {
    const id = /^id=(\S+)$/.exec(rest)?.[1];
    if (!id) throw new Error(`snippet mark "${line?.trim()}" needs id=<name>`);
    return { kind: 'run', id };
  }
  if (kind === 'file') {
    if (!rest) throw new Error(`snippet mark "${line?.trim()}" needs a path`);
    return { kind: 'file', path: rest };
  }
  if (!rest) throw new Error(`snippet mark "${line?.trim()}" needs a reason`);
  return { kind: 'synopsis', why: rest };
}

/**
 * Every fenced block of one markdown text (indented fences inside lists included), with the mark
 * on the line before it.
 *
 * @example
 * ```ts
 * const blocks = extractSnippets(readFileSync('README.md', 'utf8'), 'README.md');
 * blocks.filter((block) => block.mark.kind === 'run');
 * ```
 */
export function extractSnippets(markdown: string, file: string): Snippet[] {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[index] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '```', language = ''] = open;
    const body: string[] = [];
    let end = index + 1;
    for (; end < lines.length; end++) {
      const line = lines[end] ?? '';
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    snippets.push({
      file,
      line: index + 1,
      language: language.toLowerCase(),
      code: `${body.join('\n')}\n`,
      mark: parseMark(index > 0 ? lines[index - 1] : undefined),
    });
    index = end;
  }
  return snippets;
}

/** README.md and every docs/*.md of the repository at `root`. */
export function documentationSnippets(root: string): Snippet[] {
  const files = [
    join(root, 'README.md'),
    ...readdirSync(join(root, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .sort()
      .map((name) => join(root, 'docs', name)),
  ];
  return files.flatMap((path) => extractSnippets(readFileSync(path, 'utf8'), relative(root, path)));
}

/** The code blocks (by {@link CODE_LANGUAGES}) that carry no mark: each one is a doc bug. */
export function unmarkedCodeBlocks(snippets: readonly Snippet[]): Snippet[] {
  return snippets.filter((snippet) => CODE_LANGUAGES.has(snippet.language) && snippet.mark.kind === 'none');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = new URL('..', import.meta.url).pathname;
  for (const snippet of documentationSnippets(root)) {
    if (!CODE_LANGUAGES.has(snippet.language)) continue;
    const mark = snippet.mark;
    const what =
      mark.kind === 'run'
        ? `run ${mark.id}`
        : mark.kind === 'file'
          ? `file ${mark.path}`
          : mark.kind === 'synopsis'
            ? `synopsis (${mark.why})`
            : 'UNMARKED';
    console.log(`${snippet.file}:${snippet.line} ${snippet.language} ${what}`);
  }
}
