/** Store maintenance: `master-key rotate` (re-encrypt every secret) and `db migrate`. */
import type { MasterKeyRing } from '@hmac-kit/keys';
import { CliError, print } from '../output.js';
import { type StoreCommandContext, withKeys } from './context.js';

/** Registers `master-key` and `db` on the program. */
export function registerMaintenanceCommands(context: StoreCommandContext): void {
  const { program, io, json } = context;
  program
    .command('master-key')
    .description('master keys that encrypt secrets at rest')
    .command('rotate')
    .description('add a new master key (key file) and re-encrypt every secret under the newest key; resumable')
    .option('--resume', 'do not add a key: finish re-encrypting under the newest configured key')
    .option('--batch-size <n>', 'rows per batch', '500')
    .action(async (options: { resume?: boolean; batchSize: string }) => {
      const batchSize = Number(options.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new CliError(`invalid batch size ${JSON.stringify(options.batchSize)}`, 2);
      }
      const { addMasterKeyToFile, parseMasterKeys, readMasterKeyFile, rotateMasterKey } = await import(
        '@hmac-kit/keys'
      );
      const result = await withKeys(program, io, async (_keys, opened) => {
        let ring: MasterKeyRing | undefined = io.env.HMAC_KIT_MASTER_KEYS
          ? parseMasterKeys(io.env.HMAC_KIT_MASTER_KEYS)
          : undefined;
        let added: string | undefined;
        if (!ring) {
          const file = opened.info.masterKeyFile;
          if (!file) throw new CliError('no master key file configured');
          if (options.resume) {
            ring = await readMasterKeyFile(file);
          } else {
            const next = await addMasterKeyToFile(file);
            ring = next.ring;
            added = next.id;
            io.stderr(`hmac-kit: added master key ${next.id} to ${file}\n`);
          }
        } else if (!options.resume) {
          io.stderr('hmac-kit: HMAC_KIT_MASTER_KEYS is set: re-encrypting under its last (newest) key\n');
        }
        const progress = await rotateMasterKey(opened.store, ring, {
          batchSize,
          actor: 'cli',
          onProgress: (step) => {
            if (!json()) io.stderr(`re-encrypted ${step.reencrypted}/${step.total} (skipped ${step.skipped})\n`);
          },
        });
        return { ...progress, addedMasterKeyId: added ?? null };
      });
      print(
        io,
        json(),
        result,
        () =>
          `All secrets are encrypted under master key ${result.targetMasterKeyId} (${result.reencrypted} re-encrypted). Older master keys can be removed once every instance runs with the new ring.\n`,
      );
    });

  program
    .command('db')
    .description('database maintenance')
    .command('migrate')
    .description('apply pending schema migrations')
    .action(async () => {
      const summary = await withKeys(program, io, async (_keys, opened) => opened.migrations, { create: true });
      print(io, json(), summary, () =>
        summary.applied.length
          ? `Applied ${summary.applied.length} migration(s): ${summary.applied.join(', ')}\n`
          : 'Database schema is up to date.\n',
      );
    });
}
