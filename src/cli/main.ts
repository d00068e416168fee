/**
 * pamdrop command line. Exit codes (decisions.md): 0 all accepted · 1 some AE/AR or a quarantined file ·
 * 2 bad usage or configuration · 3 another instance holds the lock · 4 not found.
 */
import yargs, { type Argv } from 'yargs';
import type { IntakeArgs } from './commands/run.js';
import { ConfigError, ExitCode, LockedError } from '../shared/errors.js';
import { makeContext, type GlobalArgs } from './context.js';

type Handler = (args: any) => Promise<number>;
// Command modules are loaded on use: a cron `run` or a `patient` lookup does not pay for every command's
// dependencies at start-up.

/** Flags of `watch` and `run`: one local source by flags, or a subset of the configured sources. */
const intakeOptions = (y: Argv) => y
  .option('inbox', { type: 'string', describe: 'serve one local source: this inbox folder (instead of the configured sources)' })
  .option('ack-dir', { type: 'string', describe: 'ACK folder (default ./outbox)' })
  .option('archive-dir', { type: 'string', describe: 'archive root, dated sub-folders (default ./archive)' })
  .option('error-dir', { type: 'string', describe: 'quarantine folder (default ./archive/error)' })
  .option('source', { type: 'string', array: true, describe: 'only these configured sources (repeatable)' });
const intakeArgs = (a: any): IntakeArgs => ({ inbox: a.inbox, ackDir: a.ackDir, archiveDir: a.archiveDir, errorDir: a.errorDir, source: a.source });

/**
 * `pamdrop patients | head -1`: once the reader has gone (EPIPE), further output is dropped and the command ends
 * normally with its own exit code, instead of dying on an unhandled 'error' event with a stack trace.
 */
let stdoutGone = false;
let stdoutGuarded = false;
function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') { stdoutGone = true; return; }
    throw e;
  });
}
const stdoutWrite = (t: string): void => { if (!stdoutGone) process.stdout.write(t); };

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], out?: (t: string) => void, err: (t: string) => void = (t) => process.stderr.write(t)): Promise<number> {
  let code: number = ExitCode.Ok;
  let failed: Error | null = null;
  if (!out) guardStdout();
  const run = (h: Handler) => async (args: any) => { code = await h(args); };
  const ctxOf = (a: GlobalArgs) => makeContext(a, out ?? stdoutWrite);

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
      .option('source', { type: 'string', describe: 'source name recorded in the ledger (default: first configured source)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show what the files would do (as preview); write nothing' }),
    run(async (a) => a.dryRun ? (await import('./commands/preview.js')).previewCommand(ctxOf(a), { files: a.files })
      : (await import('./commands/import.js')).importCommand(ctxOf(a), { files: a.files, ackDir: a.ackDir, archiveDir: a.archiveDir, errorDir: a.errorDir, source: a.source })))
    .command('patient [value]', 'show one patient by identifier value or INS (exit 4 when none)', (y) => y
      .positional('value', { type: 'string', describe: 'identifier value (CX-1), any authority' })
      .option('ins', { type: 'string', describe: 'INS (NIR/NIA) value' })
      .option('authority', { type: 'string', describe: 'narrow to an authority namespace or OID' }),
    run(async (a) => (await import('./commands/patient.js')).patientCommand(ctxOf(a), { value: a.value, ins: a.ins, authority: a.authority })))
    .command('patients', 'list every patient record, active and merged', (y) => y, run(async (a) => (await import('./commands/patient.js')).patientsCommand(ctxOf(a))))
    // Operations (issue 4): src/ops, one handler module each in ./commands.
    .command('preview <files..>', 'what files would do (outcome per message, identity changes); writes nothing', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true }),
    run(async (a) => (await import('./commands/preview.js')).previewCommand(ctxOf(a), { files: a.files })))
    .command('reimport <targets..>', 're-run archived batches (path or ledger id): failed messages are applied again, the rest replayed', (y) => y
      .positional('targets', { type: 'string', array: true, demandOption: true, describe: 'archived file path or ledger file id' })
      .option('force', { type: 'boolean', default: false, describe: 'apply every message again (older ones are still skipped as stale)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show what the reimport would do; write nothing' })
      .option('source', { type: 'string', describe: 'source to record and take folders from (default: the original\'s)' })
      .option('ack-dir', { type: 'string', describe: 'ACK folder (default: the source\'s)' })
      .option('archive-dir', { type: 'string', describe: 'archive root (default: the source\'s)' })
      .option('error-dir', { type: 'string', describe: 'quarantine folder (default: the source\'s)' }),
    run(async (a) => (await import('./commands/reimport.js')).reimportCommand(ctxOf(a), { targets: a.targets, force: a.force, dryRun: a.dryRun, source: a.source, ackDir: a.ackDir, archiveDir: a.archiveDir, errorDir: a.errorDir })))
    .command('validate <files..>', 'offline PAM FR conformance report (no database); exit 1 on errors', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true })
      .option('quiet', { type: 'boolean', default: false, describe: 'errors only' }),
    run(async (a) => (await import('./commands/validate.js')).validateCommand(ctxOf(a), { files: a.files, quiet: a.quiet })))
    .command('reconcile', 'compare the store with a full A28/A31 snapshot of the hospital\'s active identities', (y) => y
      .option('snapshot', { type: 'string', demandOption: true, describe: 'snapshot file (A28/A31, one message per patient)' })
      .option('apply', { type: 'boolean', default: false, describe: 'then apply the snapshot through the import pipeline' })
      .option('report', { type: 'string', describe: 'also write the report to FILE.csv or FILE.json' })
      .option('source', { type: 'string', describe: 'source for --apply (default: first configured source)' }),
    run(async (a) => (await import('./commands/reconcile.js')).reconcileCommand(ctxOf(a), { snapshot: a.snapshot, apply: a.apply, report: a.report, source: a.source })))
    .command('report', 'per source and day: files, messages, AA/AE/AR, duplicates, stale, gaps, files never taken, quiet feeds', (y) => y
      .option('since', { type: 'string', describe: 'YYYY-MM-DD, ISO time, or 7d / 24h (default 7d)' }),
    run(async (a) => (await import('./commands/report.js')).reportCommand(ctxOf(a), { since: a.since })))
    .command('status', 'pending and unfinished files, failures, last activity, lock holder', (y) => y, run(async (a) => (await import('./commands/status.js')).statusCommand(ctxOf(a))))
    .command('doctor', 'check folders, file systems, disk, database, SFTP; exit 1 on any FAIL', (y) => y
      .option('offline', { type: 'boolean', default: false, describe: 'skip the SFTP (network) checks' })
      .option('min-free-mb', { type: 'number', describe: 'FAIL below this free space (default 512)' }),
    run(async (a) => (await import('./commands/doctor.js')).doctorCommand(ctxOf(a), { offline: a.offline, minFreeMb: a.minFreeMb })))
    .command('errors', 'failed messages (live AE/AR): control id, event, code, reason, file', (y) => y
      .option('since', { type: 'string', describe: 'YYYY-MM-DD, ISO time, or 7d / 24h' })
      .option('source', { type: 'string', describe: 'only this source' })
      .option('limit', { type: 'number', describe: 'at most N (default 200), newest first' }),
    run(async (a) => (await import('./commands/errors.js')).errorsCommand(ctxOf(a), { since: a.since, source: a.source, limit: a.limit })))
    .command('history [value]', 'change history of one patient: which message changed what (exit 4 when none)', (y) => y
      .positional('value', { type: 'string', describe: 'identifier value (CX-1), any authority' })
      .option('ins', { type: 'string', describe: 'INS (NIR/NIA) value' })
      .option('authority', { type: 'string', describe: 'narrow to an authority namespace or OID' }),
    run(async (a) => (await import('./commands/history.js')).historyCommand(ctxOf(a), { value: a.value, ins: a.ins, authority: a.authority })))
    .command('watch', 'daemon: watch/poll every configured source, take complete files, stop cleanly on SIGTERM (npm start)', (y) => intakeOptions(y)
      .option('http-port', { type: 'number', describe: 'serve /metrics, /healthz and the status page on this loopback port (0: any free port; overrides httpPort)' }),
    run(async (a) => (await import('./commands/watch.js')).watchCommand(ctxOf(a), { ...intakeArgs(a), httpPort: a.httpPort })))
    .command('run', 'process everything pending in every source, print a run report, exit (cron)', intakeOptions,
      run(async (a) => (await import('./commands/run.js')).runCommand(ctxOf(a), intakeArgs(a))))
    .command('sftp-keyscan', "print the SHA-256 fingerprint of an SFTP server's host key, to pin in hostKeySha256", (y) => y
      .option('source', { type: 'string', describe: 'sftp source of the config' })
      .option('host', { type: 'string', describe: 'host (instead of --source)' })
      .option('port', { type: 'number', describe: 'port (default 22, or the source\'s)' }),
    run(async (a) => (await import('./commands/keyscan.js')).keyscanCommand(ctxOf(a), { source: a.source, host: a.host, port: a.port })))
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
