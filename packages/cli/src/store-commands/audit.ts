/** `audit`: the audit trail, newest first. */
import type { AuditEntry } from '@hmac-kit/keys';
import { CliError, checkKeyIdOption, formatTable, print } from '../output.js';
import { type StoreCommandContext, withKeys } from './context.js';
import { collectList, durationOption } from './options.js';

function auditRows(entries: AuditEntry[]) {
  return entries.map((entry) => ({
    id: entry.id,
    at: entry.at.toISOString(),
    type: entry.type,
    principal: entry.principal,
    keyId: entry.keyId,
    actor: entry.actor,
    source: entry.source,
    code: entry.code,
  }));
}

/** Registers `audit` on the program. */
export function registerAuditCommand(context: StoreCommandContext): void {
  const { program, io, json } = context;
  program
    .command('audit')
    .description('show the audit trail (newest first)')
    .option('--principal <name>', 'only this principal')
    .option('--key-id <keyId>', 'only this key')
    .option('--type <type>', 'only this event type (repeat, or comma-separated)', collectList('type'), [])
    .option('--since <duration>', 'only the last ... (e.g. 24h)')
    .option('--limit <n>', 'at most n entries (default 100, max 1000)', '100')
    .action(async (options: { principal?: string; keyId?: string; type: string[]; since?: string; limit: string }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new CliError(`invalid limit ${JSON.stringify(options.limit)}: expected 1..1000`, 2);
      }
      const since = durationOption(options.since, 'duration');
      await checkKeyIdOption(options.keyId);
      // A misspelt type would match nothing and read as "it never happened": refused, as the admin API does.
      const { AUDIT_EVENT_TYPES } = await import('@hmac-kit/keys');
      const unknown = options.type.find((type) => !(AUDIT_EVENT_TYPES as readonly string[]).includes(type));
      if (unknown !== undefined) {
        throw new CliError(
          `unknown event type ${JSON.stringify(unknown)}: use one of ${AUDIT_EVENT_TYPES.join(', ')}`,
          2,
        );
      }
      const entries = await withKeys(program, io, (keys) =>
        keys.queryAudit({
          principal: options.principal,
          keyId: options.keyId,
          types: options.type.length ? (options.type as never[]) : undefined,
          since: since === undefined ? undefined : new Date(Date.now() - since * 1000),
          limit,
        }),
      );
      const rows = auditRows(entries);
      print(io, json(), rows, () =>
        formatTable(rows, ['id', 'at', 'type', 'principal', 'keyId', 'actor', 'source', 'code']),
      );
    });
}
