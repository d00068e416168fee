/**
 * pamdrop command line. Exit codes (decisions.md): 0 all accepted · 1 some AE/AR or a quarantined file ·
 * 2 bad usage or configuration · 3 another instance holds the lock · 4 not found.
 */
import yargs, { type Argv } from 'yargs';
import { ConfigError, ExitCode, LockedError } from '../shared/errors.js';
import { makeContext, type GlobalArgs } from './context.js';
import { importCommand } from './commands/import.js';
import { patientCommand, patientsCommand } from './commands/patient.js';

type Handler = (args: any) => Promise<number>;

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], out?: (t: string) => void, err: (t: string) => void = (t) => process.stderr.write(t)): Promise<number> {
  let code: number = ExitCode.Ok;
  let failed: Error | null = null;
  const run = (h: Handler) => async (args: any) => { code = await h(args); };
  const ctxOf = (a: GlobalArgs) => makeContext(a, out);

  const cli: Argv = yargs(argv)
    .scriptName('pamdrop')
    .usage('$0 <command> [options]\n\nIHE PAM FR (ITI-30) file-drop importer with INS.')
    .option('config', { type: 'string', describe: 'JSON settings file (see config.example.json); flags win over it' })
    .option('db', { type: 'string', describe: 'SQLite file path or postgres:// URL (default data/pamdrop.sqlite)' })
    .option('sqlite-driver', { type: 'string', choices: ['better-sqlite3', 'sqlite3'], describe: 'SQLite driver' })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
    .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error', 'silent'], describe: 'log level (logs go to stderr)' })
    .command('import <files..>', 'import HL7 batch files now (natural name order), write ACK files, archive them', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true })
      .option('ack-dir', { type: 'string', describe: 'ACK folder (default ./outbox)' })
      .option('archive-dir', { type: 'string', describe: 'archive root, dated sub-folders (default ./archive)' })
      .option('error-dir', { type: 'string', describe: 'quarantine folder (default ./archive/error)' })
      .option('source', { type: 'string', describe: 'source name recorded in the ledger (default: first configured source)' }),
    run((a) => importCommand(ctxOf(a), { files: a.files, ackDir: a.ackDir, archiveDir: a.archiveDir, errorDir: a.errorDir, source: a.source })))
    .command('patient [value]', 'show one patient by identifier value or INS (exit 4 when none)', (y) => y
      .positional('value', { type: 'string', describe: 'identifier value (CX-1), any authority' })
      .option('ins', { type: 'string', describe: 'INS (NIR/NIA) value' })
      .option('authority', { type: 'string', describe: 'narrow to an authority namespace or OID' }),
    run((a) => patientCommand(ctxOf(a), { value: a.value, ins: a.ins, authority: a.authority })))
    .command('patients', 'list every patient record, active and merged', (y) => y, run((a) => patientsCommand(ctxOf(a))))
    .demandCommand(1, 'give a command (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .exitProcess(false)
    .fail((msg, e) => { failed = e ?? new ConfigError(msg); });

  try {
    await cli.parseAsync();
  } catch (e) {
    failed = e as Error;
  }
  if (failed) {
    const e = failed as Error;
    if (e instanceof LockedError) { err(`pamdrop: ${e.message}\n`); return ExitCode.Locked; }
    if (e instanceof ConfigError || !(e instanceof Error) || e.name === 'YError') { err(`pamdrop: ${e.message}\n`); return ExitCode.Usage; }
    err(`pamdrop: ${e.name}: ${e.message}\n`);
    return ExitCode.Rejected;
  }
  return code;
}
