/**
 * `request` and `sign`: their options here, what they do in request-run.ts, imported when one of
 * them runs (the signing code is most of what a `hmac-kit` process would otherwise load for
 * `--help` or `--version`).
 */
import { type Command, Option } from 'commander';
import type { Io } from './output.js';
import type { SignFlags } from './request-run.js';

function collectHeader(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function signOptions(command: Command): Command {
  return command
    .option('-H, --header <header>', "request header 'Name: value' (repeat)", collectHeader, [])
    .option('--data <string>', 'request body')
    .option('--data-file <file>', 'request body from a file')
    .option('--data-stdin', 'request body from stdin')
    .option('--key-id <id>', 'key id')
    .option('--secret-env <var>', 'read the secret from this environment variable')
    .option('--secret-file <file>', 'read the secret from this file')
    .option('--secret <secret>', 'the secret (visible in the process list: avoid)')
    .option(
      '--scheme <scheme>',
      'rfc9421 (default), sigv4, x-api, django-hmac, standard-webhooks, or a scheme declared in --config',
    )
    .option('--config <file>', 'a server config file: sign with its declared legacySchemes (examples/legacy/)')
    .option(
      '--secret-encoding <encoding>',
      'how the secret is written: text, base64 or hex (default: hks_ as is; text for declared schemes)',
    )
    .option('--algorithm <algorithm>', "the key's algorithm: sha256, sha384, sha512", 'sha256')
    .option('--region <region>', 'SigV4 region (default us-east-1)')
    .option('--service <service>', 'SigV4 service (default hmac-kit)');
}

/** `request` (signed curl) and `sign` (headers only). */
export function registerRequestCommands(program: Command, io: Io, setExit: (code: Promise<number>) => void): void {
  signOptions(
    program
      .command('request <method> <url>')
      .description('send a signed request and print the response (like curl)')
      .option('-i, --include', 'print the response status line and headers')
      .option(
        '--json <data>',
        'request body as JSON, like curl: sets Content-Type and Accept to application/json unless -H gives them',
      )
      // What `--json <data>` becomes before parsing (index.ts requestJsonArgs): the program's own
      // `--json` (JSON output) would take it otherwise.
      .addOption(new Option('--json-body <data>').hideHelp())
      .option(
        '-v, --verbose',
        "also print the signed headers and signature base (stderr), and a line diff against the server's (serve --debug-signatures)",
      ),
  ).action(async (method: string, target: string, flags: SignFlags) => {
    const { runRequest } = await import('./request-run.js');
    await runRequest(io, setExit, method, target, flags);
  });

  signOptions(
    program.command('sign <method> <url>').description('print the headers to add to a request (for any HTTP tool)'),
  ).action(async (method: string, target: string, flags: SignFlags) => {
    const { runSign } = await import('./request-run.js');
    await runSign(io, program.opts<{ json?: boolean }>().json === true, method, target, flags);
  });
}
