/**
 * pamdrop command line. Exit codes (docs/behaviour.md): 0 all accepted · 1 some AE/AR or a quarantined file (the data's
 * fault) · 2 bad usage or configuration · 3 another instance holds the lock · 4 not found · 5 the system's fault
 * (store unreachable, folder unreadable or unwritable, disk full: nothing was refused, retry later).
 *
 * Order of checks, all before anything is touched: the arguments (yargs strict mode: a command's handler only
 * records what to do, and it is done only once the whole command line has been accepted), then the configuration
 * (schema), then the paths (store target for the command's use, folders). Any mistake: exit 2, one line on stderr.
 */
import yargs, { type Argv } from 'yargs';
import type { IntakeArgs } from './commands/run.js';
import { ConfigError, ExitCode, LockedError } from '../shared/errors.js';
import { makeContext, type CliContext, type GlobalArgs, type StoreUse } from './context.js';

type Action = (ctx: CliContext, args: any) => Promise<number>;
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
  let failed: Error | null = null;
  let planned: { args: any; store: StoreUse; act: Action } | null = null;
  if (!out) guardStdout();
  // A handler only records the command: yargs may call it before its own checks have finished (strict mode's
  // unknown-argument check runs after a command's handler), and nothing may happen before they have all passed.
  const run = (store: StoreUse | ((a: any) => StoreUse), act: Action) => (args: any) => {
    planned = { args, store: typeof store === 'function' ? store(args) : store, act };
  };

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
    run((a) => (a.dryRun ? 'open' : 'create'), async (ctx, a) => a.dryRun ? (await import('./commands/preview.js')).previewCommand(ctx, { files: a.files })
      : (await import('./commands/import.js')).importCommand(ctx, { files: a.files, ackDir: a.ackDir, archiveDir: a.archiveDir, errorDir: a.errorDir, source: a.source })))
    .command('patient [value]', 'show one patient by identifier value or INS (exit 4 when none)', (y) => y
      .positional('value', { type: 'string', describe: 'identifier value (CX-1), any authority' })
      .option('ins', { type: 'string', describe: 'INS (NIR/NIA) value' })
      .option('authority', { type: 'string', describe: 'narrow to an authority namespace or OID' })
      .check((a) => (a.value !== undefined || a.ins !== undefined) || 'patient: give an identifier value or --ins'),
    run('open', async (ctx, a) => (await import('./commands/patient.js')).patientCommand(ctx, { value: a.value, ins: a.ins, authority: a.authority })))
    .command('patients', 'list every patient record, active and merged', (y) => y, run('open', async (ctx, a) => (await import('./commands/patient.js')).patientsCommand(ctx)))
    // Operations: src/ops, one handler module each in ./commands.
    .command('preview <files..>', 'what files would do (outcome per message, identity changes); writes nothing', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true }),
    run('open', async (ctx, a) => (await import('./commands/preview.js')).previewCommand(ctx, { files: a.files })))
    .command('reimport <targets..>', 're-run archived batches (path or ledger id): failed messages are applied again, the rest replayed', (y) => y
      .positional('targets', { type: 'string', array: true, demandOption: true, describe: 'archived file path or ledger file id' })
      .option('force', { type: 'boolean', default: false, describe: 'apply every message again (older ones are still skipped as stale)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show what the reimport would do; write nothing' })
      .option('source', { type: 'string', describe: 'source to record and take folders from (default: the original\'s)' })
      .option('ack-dir', { type: 'string', describe: 'ACK folder (default: the source\'s)' })
      .option('archive-dir', { type: 'string', describe: 'archive root (default: the source\'s)' })
      .option('error-dir', { type: 'string', describe: 'quarantine folder (default: the source\'s)' }),
    run((a) => (a.dryRun ? 'open' : 'create'), async (ctx, a) => (await import('./commands/reimport.js')).reimportCommand(ctx, { targets: a.targets, force: a.force, dryRun: a.dryRun, source: a.source, ackDir: a.ackDir, archiveDir: a.archiveDir, errorDir: a.errorDir })))
    .command('validate <files..>', 'offline PAM FR conformance report (no database); exit 1 on errors', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true })
      .option('quiet', { type: 'boolean', default: false, describe: 'errors only' })
      .option('ack', { type: 'boolean', default: false, describe: 'the files are ACKs: check their structure (MSH, MSA, ERR v2.5)' })
      .option('inbound', { type: 'string', array: true, describe: 'with --ack: the inbound message files, to check the echoed fields' })
      .check((a) => !a.inbound || a.ack || '--inbound: only with --ack'),
    run('none', async (ctx, a) => (await import('./commands/validate.js')).validateCommand(ctx, { files: a.files, quiet: a.quiet, ack: a.ack, inbound: a.inbound })))
    .command('evidence [target]', 'evidence pages for the national test platform: message received, ACK sent, identity before and after (HTML, --pdf)', (y) => y
      .positional('target', { type: 'string', describe: 'MSH-10 control id, file:<ledger file id> or message:<ledger message id>' })
      .option('since', { type: 'string', describe: 'every message processed since: YYYY-MM-DD, ISO time, or 7d / 24h' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder to write the pages into (created)' })
      .option('pdf', { type: 'boolean', default: false, describe: 'also print each page to PDF with headless Chromium' })
      .option('limit', { type: 'number', describe: 'at most N messages (default 1000), oldest first' })
      .check((a) => (a.target !== undefined || a.since !== undefined) || 'evidence: give a control id, file:ID, message:ID or --since')
      .check((a) => a.limit === undefined || (Number.isInteger(a.limit) && a.limit >= 1) || '--limit must be a positive integer'),
    run('open', async (ctx, a) => (await import('./commands/evidence.js')).evidenceCommand(ctx, { target: a.target, since: a.since, out: a.out, pdf: a.pdf, limit: a.limit })))
    .command('scenarios <action>', 'PAM FR §4.4 consumer scenarios replayed on a sandbox store, with an evidence bundle (action: run)', (y) => y
      .positional('action', { type: 'string', choices: ['run'] })
      .option('via', { type: 'string', choices: ['files', 'mllp'], default: 'files', describe: 'how the messages reach pamdrop' })
      .option('store', { type: 'string', describe: 'run on this store (SQLite path or postgres:// URL) instead of a fresh sandbox' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder for the evidence bundle (index.html, one page per step)' }),
    run('none', async (ctx, a) => (await import('./commands/scenarios.js')).scenariosCommand(ctx, { via: a.via, store: a.store, out: a.out })))
    .command('reconcile', 'compare the store with a full A28/A31 snapshot of the hospital\'s active identities', (y) => y
      .option('snapshot', { type: 'string', demandOption: true, describe: 'snapshot file (A28/A31, one message per patient)' })
      .option('apply', { type: 'boolean', default: false, describe: 'then apply the snapshot through the import pipeline' })
      .option('report', { type: 'string', describe: 'also write the report to FILE.csv or FILE.json' })
      .option('source', { type: 'string', describe: 'source for --apply (default: first configured source)' }),
    run((a) => (a.apply ? 'create' : 'open'), async (ctx, a) => (await import('./commands/reconcile.js')).reconcileCommand(ctx, { snapshot: a.snapshot, apply: a.apply, report: a.report, source: a.source })))
    .command('report', 'per source and day: files, messages, AA/AE/AR, duplicates, stale, gaps, files never taken, quiet feeds', (y) => y
      .option('since', { type: 'string', describe: 'YYYY-MM-DD, ISO time, or 7d / 24h (default 7d)' }),
    run('open', async (ctx, a) => (await import('./commands/report.js')).reportCommand(ctx, { since: a.since })))
    .command('status', 'pending and unfinished files, failures, last activity, lock holder', (y) => y, run('open', async (ctx, a) => (await import('./commands/status.js')).statusCommand(ctx)))
    .command('doctor', 'check folders, file systems, disk, database, SFTP; exit 1 on any FAIL', (y) => y
      .option('offline', { type: 'boolean', default: false, describe: 'skip the SFTP (network) checks' })
      .option('min-free-mb', { type: 'number', describe: 'FAIL below this free space (default 512)' })
      .check((a) => a.minFreeMb === undefined || (Number.isFinite(a.minFreeMb) && Number(a.minFreeMb) >= 0) || '--min-free-mb must be a number ≥ 0'),
    run('open', async (ctx, a) => (await import('./commands/doctor.js')).doctorCommand(ctx, { offline: a.offline, minFreeMb: a.minFreeMb })))
    .command('errors', 'failed messages (live AE/AR): control id, event, code, reason, file', (y) => y
      .option('since', { type: 'string', describe: 'YYYY-MM-DD, ISO time, or 7d / 24h' })
      .option('source', { type: 'string', describe: 'only this source' })
      .option('limit', { type: 'number', describe: 'at most N (default 200), newest first' })
      .check((a) => a.limit === undefined || (Number.isInteger(a.limit) && a.limit >= 1) || '--limit must be a positive integer'),
    run('open', async (ctx, a) => (await import('./commands/errors.js')).errorsCommand(ctx, { since: a.since, source: a.source, limit: a.limit })))
    .command('prune', 'remove archived files and kept MLLP bytes older than the configured retention (cron, daily); the ledger stays', (y) => y
      .option('dry-run', { type: 'boolean', default: false, describe: 'say what would be removed; remove nothing' }),
    run('open', async (ctx, a) => (await import('./commands/prune.js')).pruneCommand(ctx, { dryRun: a.dryRun })))
    .command('history [value]', 'change history of one patient: which message changed what (exit 4 when none)', (y) => y
      .positional('value', { type: 'string', describe: 'identifier value (CX-1), any authority' })
      .option('ins', { type: 'string', describe: 'INS (NIR/NIA) value' })
      .option('authority', { type: 'string', describe: 'narrow to an authority namespace or OID' })
      .check((a) => (a.value !== undefined || a.ins !== undefined) || 'history: give an identifier value or --ins'),
    run('open', async (ctx, a) => (await import('./commands/history.js')).historyCommand(ctx, { value: a.value, ins: a.ins, authority: a.authority })))
    .command('watch', 'daemon: watch/poll every configured source, take complete files, stop cleanly on SIGTERM (npm start)', (y) => intakeOptions(y)
      .option('http-port', { type: 'number', describe: 'serve /metrics, /healthz and the status page on this loopback port (0: any free port; overrides httpPort)' })
      .check((a) => a.httpPort === undefined || (Number.isInteger(a.httpPort) && Number(a.httpPort) >= 0 && Number(a.httpPort) <= 65535) || '--http-port: must be a TCP port (0–65535)')
      .option('mllp-port', { type: 'number', describe: 'receive HL7 messages over MLLP on this loopback port (the listener named mllp; see docs/mllp.md)' })
      .check((a) => a.mllpPort === undefined || (Number.isInteger(a.mllpPort) && Number(a.mllpPort) >= 0 && Number(a.mllpPort) <= 65535) || '--mllp-port: must be a TCP port (0–65535)'),
    run('create', async (ctx, a) => (await import('./commands/watch.js')).watchCommand(ctx, { ...intakeArgs(a), httpPort: a.httpPort, mllpPort: a.mllpPort })))
    .command('run', 'process everything pending in every source, print a run report, exit (cron)', intakeOptions,
      run('create', async (ctx, a) => (await import('./commands/run.js')).runCommand(ctx, intakeArgs(a))))
    .command('sftp-keyscan', "print the SHA-256 fingerprint of an SFTP server's host key, to pin in hostKeySha256", (y) => y
      .option('source', { type: 'string', describe: 'sftp source of the config' })
      .option('host', { type: 'string', describe: 'host (instead of --source)' })
      .option('port', { type: 'number', describe: 'port (default 22, or the source\'s)' }),
    run('none', async (ctx, a) => (await import('./commands/keyscan.js')).keyscanCommand(ctx, { source: a.source, host: a.host, port: a.port })))
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
  if (failed) return reportError(failed, err, false);
  const todo = planned as { args: any; store: StoreUse; act: Action } | null;
  if (!todo) return ExitCode.Ok; // --help, --version
  let ctx: CliContext | undefined;
  try {
    ctx = makeContext(todo.args as GlobalArgs, out ?? stdoutWrite, todo.store, err);
    return await todo.act(ctx, todo.args);
  } catch (e) {
    return reportError(e, err, (ctx?.config.log.level ?? todo.args.logLevel) === 'debug');
  }
}

/**
 * The one place an error becomes an exit code: usage and configuration 2, lock 3, anything else 5 — an error that
 * escapes a command is the system's (store unreachable, I/O), since the data's faults are outcomes (AE/AR, quarantine).
 * One line on stderr; the stack trace only at --log-level debug.
 */
function reportError(e: unknown, err: (t: string) => void, debug: boolean): number {
  const error = e instanceof Error ? e : new Error(String(e));
  const usage = error instanceof ConfigError || error.name === 'YError' || !(e instanceof Error);
  const code = error instanceof LockedError ? ExitCode.Locked : usage ? ExitCode.Usage : ExitCode.SystemFault;
  const errno = (error as NodeJS.ErrnoException).code;
  const text = code === ExitCode.SystemFault
    ? `${error.name !== 'Error' ? `${error.name}: ` : ''}${typeof errno === 'string' && !error.message.includes(errno) ? `${errno}: ` : ''}${oneLine(error.message)} (exit 5: the system's fault, nothing was refused; retry once it is fixed)`
    : oneLine(error.message);
  err(`pamdrop: ${text}\n`);
  if (debug && error.stack && code === ExitCode.SystemFault) err(`${error.stack}\n`);
  return code;
}

const oneLine = (t: string): string => t.replace(/\s*[\r\n]+\s*/g, ' ').trim();
