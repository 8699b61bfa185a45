import type { Command, Option } from 'commander';
import { CliError, type Io } from './output.js';

/** One command of the tree: its path of names, subcommands and options. */
interface Node {
  path: string[];
  description: string;
  subcommands: Node[];
  options: Option[];
}

function tree(command: Command, path: string[] = []): Node {
  return {
    path,
    description: command.description(),
    subcommands: command.commands.filter((sub) => sub.name() !== 'help').map((sub) => tree(sub, [...path, sub.name()])),
    // Hidden options are spellings the CLI writes itself (request's --json-body), never offered.
    options: command.options.filter((option) => !option.hidden),
  };
}

function flatten(node: Node): Node[] {
  return [node, ...node.subcommands.flatMap(flatten)];
}

function flags(option: Option): string[] {
  return [option.long, option.short].filter((flag): flag is string => typeof flag === 'string');
}

function takesValue(option: Option): boolean {
  return option.required || option.optional;
}

/** Single-quoted for bash and fish (descriptions contain no control characters). */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * bash completion (zsh loads it through bashcompinit): the words before the cursor, minus options and
 * their values, name the command; its subcommands and options are offered, and files after an option
 * that takes a value.
 */
function bashScript(root: Node): string {
  const nodes = flatten(root);
  // A program-wide switch is never read as taking a value (request's `--json <data>` shares --json's name:
  // `hmac-kit --json keys <TAB>` must still see the command `keys`).
  const switches = new Set(root.options.filter((option) => !takesValue(option)).flatMap(flags));
  const valueFlags = [...new Set(nodes.flatMap((node) => node.options.filter(takesValue).flatMap(flags)))]
    .filter((flag) => !switches.has(flag))
    .sort();
  const cases = nodes.map((node) => {
    const words = [...node.subcommands.map((sub) => sub.path.at(-1) ?? ''), ...node.options.flatMap(flags)];
    if (node.path.length > 0)
      words.push(...root.options.filter((option) => option.long !== '--version').flatMap(flags));
    return `    ${quote(node.path.join(' '))}) words=${quote([...new Set(words)].join(' '))} ;;`;
  });
  return [
    '# hmac-kit completion for bash. Load it with:  source <(hmac-kit completion bash)',
    '_hmac_kit_completion() {',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion in a plain string, not a JS template
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" words="" i skip=0',
    `  case " ${valueFlags.join(' ')} " in *" $prev "*) COMPREPLY=($(compgen -f -- "$cur")); return ;; esac`,
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    if ((skip)); then skip=0; continue; fi',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion in a plain string, not a JS template
    '    case "${COMP_WORDS[i]}" in',
    `      ${valueFlags.join('|')}) skip=1 ;;`,
    '      -*) ;;',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion in a plain string, not a JS template
    '      *) path="${path:+$path }${COMP_WORDS[i]}" ;;',
    '    esac',
    '  done',
    '  case "$path" in',
    ...cases,
    '  esac',
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    'complete -o default -F _hmac_kit_completion hmac-kit',
    '',
  ].join('\n');
}

function zshScript(root: Node): string {
  return [
    '# hmac-kit completion for zsh. Load it with:  source <(hmac-kit completion zsh)',
    'autoload -U +X compinit && compinit',
    'autoload -U +X bashcompinit && bashcompinit',
    bashScript(root).replace(/^# .*\n/, ''),
  ].join('\n');
}

function fishScript(root: Node): string {
  const lines = ['# hmac-kit completion for fish. Load it with:  hmac-kit completion fish | source'];
  lines.push('complete -c hmac-kit -f');
  for (const node of flatten(root)) {
    // A node is current when its path was typed and none of its subcommands yet.
    const seen = node.path.map((name) => `__fish_seen_subcommand_from ${name}`);
    const notYet = node.subcommands.length
      ? [`not __fish_seen_subcommand_from ${node.subcommands.map((sub) => sub.path.at(-1)).join(' ')}`]
      : [];
    const condition = node.path.length === 0 ? '__fish_use_subcommand' : [...seen, ...notYet].join('; and ');
    for (const sub of node.subcommands) {
      lines.push(
        `complete -c hmac-kit -n ${quote(condition)} -a ${quote(sub.path.at(-1) ?? '')} -d ${quote(sub.description)}`,
      );
    }
    const optionCondition = node.path.length === 0 ? '' : ` -n ${quote(seen.join('; and '))}`;
    for (const option of node.options) {
      const parts = [`complete -c hmac-kit${optionCondition}`];
      if (option.long) parts.push(`-l ${option.long.replace(/^--/, '')}`);
      if (option.short) parts.push(`-s ${option.short.replace(/^-/, '')}`);
      if (takesValue(option)) parts.push('-r -F');
      parts.push(`-d ${quote(option.description)}`);
      lines.push(parts.join(' '));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `hmac-kit completion bash|zsh|fish`: prints a completion script built from the command tree. */
export function registerCompletion(program: Command, io: Io): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script: bash, zsh or fish')
    .addHelpText(
      'after',
      '\nbash: source <(hmac-kit completion bash)   (or save it in ~/.local/share/bash-completion/completions/hmac-kit)\nzsh:  source <(hmac-kit completion zsh)\nfish: hmac-kit completion fish > ~/.config/fish/completions/hmac-kit.fish',
    )
    .action((shell: string) => {
      const root = tree(program);
      const scripts: Record<string, (node: Node) => string> = { bash: bashScript, zsh: zshScript, fish: fishScript };
      const script = scripts[shell];
      if (!script) throw new CliError(`unknown shell ${JSON.stringify(shell)}: use bash, zsh or fish`, 2);
      io.stdout(script(root));
    });
}
