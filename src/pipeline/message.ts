/**
 * One message inside a group's transaction: the duplicate rule, the identity rules, the ACK bytes and name, and the
 * ledger row, in a savepoint of its own so that a message the database refuses rolls back alone (AE 207).
 */
import { hash as oneShotHash } from 'node:crypto';
import type { RawMessage } from '../hl7/batch.js';
import { encodeText } from '../hl7/charset.js';
import { buildAck, type AckCode } from '../hl7/ack.js';
import type { Hl7Message } from '../hl7/model.js';
import { ErrorCode, Severity, type Finding } from '../hl7/errors.js';
import { applyCommand, type ApplyOutcome } from '../store/apply.js';
import { retryTransient, transientDbError } from '../store/retry.js';
import { systemFault } from '../store/db-errors.js';
import type { Tx } from '../store/tx.js';
import { findOriginal, insertMessage, supersedeOriginal, MessageStatus, type FileRow, type MessageStatus as MsgStatus } from '../store/ledger.js';
import { ackFileName, ackSlotFree } from './files.js';
import { refusalFinding, refusalOf, storable, type Refusal } from './refusals.js';
import { readMessage } from './reading.js';
import type { FileJob, PipelineContext } from './process-file.js';

// One-shot crypto.hash: the same digest as createHash().update().digest() without a Hash object per message.
const sha256 = (b: Buffer) => oneShotHash('sha256', b, 'hex');

/** Our own ACK MSH-10: deterministic (file ledger id, position, content) so a resumed run writes the same bytes. */
function ackControlId(fileId: number, idx: number, contentSha: string): string {
  return 'PD' + oneShotHash('sha256', `${fileId}:${idx}:${contentSha}`, 'hex').slice(0, 18).toUpperCase();
}

class Rejected extends Error {
  constructor(readonly findings: Finding[]) { super('rejected'); }
}

export interface MessageResult { ackName: string; ack: Buffer; status: MsgStatus; outcome: AckCode }

/** MSH-13 (NM) when it is an integer, for the report's gap detection (migration 0002); else null. */
function sequenceNumber(msg: Hl7Message | null): number | null {
  const v = msg ? msg.msh.get(13).trim() : '';
  return /^-?\d{1,15}$/.test(v) ? Number(v) : null;
}

/** The ACK file name processMessage took from the file's set, so that a message redone after a refusal keeps it. */
class NameTaken extends Set<string> {
  last: string | null = null;
  constructor(private readonly base: Set<string>) { super(); }
  override has(v: string): boolean { return this.base.has(v); }
  override add(v: string): this { this.base.add(v); this.last = v; return this; }
}

/** The message's ACK file name: the one an attempt rolled back already took, else a new one (ackFileName). */
function takeAckName(file: FileRow, controlId: string | null, idx: number, usedNames: Set<string>, ackDir: string, bytes: Buffer): string {
  return (usedNames instanceof NameTaken ? usedNames.last : null) ?? ackFileName(file.name, controlId, idx, usedNames, (n) => ackSlotFree(ackDir, n, bytes));
}

/**
 * processMessage in a savepoint of its own: a statement the database refuses for this message's content rolls back
 * this message alone, which is then recorded as an AE 207 (nothing applied), and the file goes on. Any other error
 * fails the file (it stays claimed and is retried). In a PostgreSQL group (pg-group.ts) a failing write fails the
 * group attempt instead, and the group is redone message by message through here.
 */
export async function processGuarded(tx: Tx, raw: RawMessage, file: FileRow, usedNames: Set<string>, ctx: PipelineContext, ackDir: string, supersede?: FileJob['supersede']): Promise<MessageResult> {
  if (tx.groupCache) return processMessage(tx, raw, file, usedNames, ctx, ackDir, supersede);
  const names = new NameTaken(usedNames);
  let refusal: Refusal | null = null;
  try {
    return await tx.savepoint((sp) => processMessage(sp, raw, file, names, ctx, ackDir, supersede));
  } catch (err) {
    refusal = refusalOf(err);
    if (!refusal) throw err;
  }
  ctx.log.warn('the database refused a message; answered AE', { index: raw.index, sqlstate: refusal.code });
  try {
    return await tx.savepoint((sp) => processMessage(sp, raw, file, names, ctx, ackDir, supersede, refusal));
  } catch (err) {
    // Refused again: the key itself may be the cause; recorded without it (no duplicate detection for this message).
    const again = refusalOf(err, true);
    if (!again) throw err;
    return tx.savepoint((sp) => processMessage(sp, raw, file, names, ctx, ackDir, supersede, { ...refusal, keyless: true }));
  }
}

/** Processes one message inside the group transaction; `refused`: record it as refused by the database, nothing else. */
async function processMessage(tx: Tx, raw: RawMessage, file: FileRow, usedNames: Set<string>, ctx: PipelineContext, ackDir: string, supersede?: FileJob['supersede'], refused?: Refusal): Promise<MessageResult> {
  const { config: cfg, clock, log } = ctx;
  const contentSha = sha256(raw.bytes);
  const now = clock.now();
  const nowIso = now.toISOString();
  const ackId = ackControlId(file.id, raw.index, contentSha);
  // The reading `validate` shares: decode, parse, acceptance and interpretation, before the store.
  const reading = readMessage(raw, cfg);
  const { msg, charset } = reading;
  let findings: Finding[] = [...reading.warnings];
  let code: AckCode = 'AA';
  let status: MsgStatus = MessageStatus.Applied;
  let patientId: number | null = null;
  const app = refused?.keyless ? '' : storable(reading.header.sendingApp);
  const fac = refused?.keyless ? '' : storable(reading.header.sendingFacility);
  const controlId = reading.header.controlId === null ? null : storable(reading.header.controlId);
  // The ledger's event column holds a trigger event code (8 characters at most); a longer MSH-9.2 is refused (AR 201).
  const event = refused || reading.header.event === null ? null : storable(reading.header.event).slice(0, 8);
  let messageTime: string | null = null;

  if (refused) {
    findings.push(refusalFinding(refused));
    code = 'AE';
    status = MessageStatus.Rejected;
  }

  // Idempotency (docs/behaviour.md): same key + same content → duplicate, replay the stored ACK byte for byte;
  // same key + other content → AE 205.
  if (controlId && !refused) {
    const orig = await findOriginal(tx, app, fac, controlId);
    // Reimport: the original steps aside (superseded) and this attempt is processed as new.
    const retry = orig !== undefined && orig.content_sha256 === contentSha && (supersede === 'all' || (supersede === 'failed' && orig.outcome !== 'AA'))
      && await supersedeOriginal(tx, orig.id, file.id);
    if (orig && !retry) {
      if (orig.content_sha256 === contentSha) {
        const ackName = takeAckName(file, controlId, raw.index, usedNames, ackDir, orig.ack);
        await insertMessage(tx, { fileId: file.id, idx: raw.index, sendingApp: app, sendingFacility: fac, controlId, contentSha256: contentSha,
          event, messageTime: null, status: MessageStatus.Duplicate, outcome: orig.outcome, errorCode: null, errorText: null,
          patientId: orig.patient_id, ackName, ack: orig.ack, now: nowIso });
        return { ackName, ack: orig.ack, status: MessageStatus.Duplicate, outcome: orig.outcome };
      }
      findings = [{ code: ErrorCode.DuplicateKey, severity: Severity.Error, location: { segment: 'MSH', field: 10 },
        text: 'MSH-10 already used by this sender for a different message: not applied' }];
      code = 'AE';
      status = MessageStatus.Conflict;
    }
  }

  if (status === MessageStatus.Applied) {
    const interp = reading.interpretation;
    if (reading.unreadable || !interp) {
      findings.push(reading.unreadable!.error.toFinding());
      code = reading.outcome;
      status = MessageStatus.Rejected;
    } else if (!interp.ok) {
      findings.push(...interp.findings);
      code = interp.ack;
      status = MessageStatus.Rejected;
      messageTime = interp.header.messageTime;
    } else {
      const cmd = interp.command;
      messageTime = cmd.header.messageTime;
      try {
        const attempt = () => tx.savepoint(async (sp) => {
          const o = await applyCommand(sp, cmd, { now: nowIso, staleUpdates: cfg.staleUpdates, authorityAliases: cfg.pam.authorityAliases });
          if (o.kind === 'rejected') throw new Rejected(o.findings);
          return o;
        });
        // PostgreSQL: a concurrent writer's deadlock, lock timeout or same-key insert is retried (store/retry.ts).
        const out: ApplyOutcome = tx.dialect === 'pg'
          ? await retryTransient(attempt, { onRetry: (r) => log.warn('concurrent update while applying; retrying the message', { controlId, event, ...r }) })
          : await attempt();
        patientId = out.patientId;
        findings.push(...cmd.warnings, ...out.warnings);
        if (out.kind === 'stale') status = MessageStatus.Stale;
      } catch (err) {
        if (err instanceof Rejected) {
          findings.push(...cmd.warnings.filter((w) => w.severity !== Severity.Error), ...err.findings);
        } else if (transientDbError(err) || systemFault(err)) {
          throw err; // retries spent, or the store failed: the file stays claimed and is retried, never an AE
        } else {
          const refusal = refusalOf(err);
          if (refusal) {
            log.warn('the database refused a message; answered AE', { controlId, event, sqlstate: refusal.code });
            findings.push(refusalFinding({ ...refusal, column: null }));
          } else {
            log.error('message failed while applying', { controlId, event, error: (err as Error).name, code: (err as { code?: string }).code });
            findings.push({ code: ErrorCode.InternalError, severity: Severity.Error, text: 'internal error while applying the message; nothing applied' });
          }
        }
        code = 'AE';
        status = MessageStatus.Rejected;
      }
    }
  }

  const ackText = buildAck({ inbound: msg, fallback: reading.fallback ?? undefined, code, findings, controlId: ackId, now, self: cfg.self });
  const ack = encodeText(ackText, charset);
  const ackName = takeAckName(file, controlId, raw.index, usedNames, ackDir, ack);
  const firstError = findings.find((f) => f.severity === Severity.Error);
  await insertMessage(tx, { fileId: file.id, idx: raw.index, sendingApp: app, sendingFacility: fac, controlId: refused?.keyless ? null : controlId,
    contentSha256: contentSha, event, messageTime, status, outcome: code, errorCode: firstError?.code ?? null, errorText: firstError?.text ?? null,
    patientId, ackName, ack, now: nowIso, sequenceNumber: refused ? null : sequenceNumber(msg) });
  log.debug('message', { controlId, event, outcome: code, status });
  return { ackName, ack, status, outcome: code };
}

