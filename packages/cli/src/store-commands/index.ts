/**
 * The commands that work on the key store: `principals`, `keys`, `audit`, `master-key` and `db`,
 * registered in the order `--help` lists them.
 */
import type { Command } from 'commander';
import type { Io } from '../output.js';
import { registerAuditCommand } from './audit.js';
import type { Globals, StoreCommandContext } from './context.js';
import { registerKeyCommands } from './keys.js';
import { registerMaintenanceCommands } from './maintenance.js';
import { registerPrincipalCommands } from './principals.js';

/**
 * `principals`, `keys`, `master-key`, `db` and `audit`.
 *
 * @example
 * ```ts
 * const program = new Command('hmac-kit').option('--db <url>').option('--json');
 * registerStoreCommands(program, io);
 * ```
 */
export function registerStoreCommands(program: Command, io: Io): void {
  const context: StoreCommandContext = { program, io, json: () => program.opts<Globals>().json === true, actor: 'cli' };
  registerPrincipalCommands(context);
  registerKeyCommands(program.command('keys').description('API keys'), context);
  registerAuditCommand(context);
  registerMaintenanceCommands(context);
}
