/**
 * One message inside a group's transaction: the duplicate rule, the identity rules, the ACK bytes and name, and the
 * ledger row. The plain path runs each message in a savepoint of its own (processGuarded), so that a message the
 * database refuses rolls back alone (AE 207); PostgreSQL's unit of work runs processMessage directly and undoes a
 * message itself (pg/unit-of-work.ts).
 */
import { hash as oneShotHash } from 'node:crypto';
import { encodeText } from '../hl7/charset.js';
import { buildAck, type AckCode } from '../hl7/ack.js';
import type { Hl7Message } from '../hl7/model.js';
import { ErrorCode, Severity, type Finding } from '../hl7/errors.js';
import type { MessageReading } from '../pam/reading.js';
import type { AuthorityAliases } from '../pam/authority.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { applyCommand, type ApplyOutcome } from '../identity/apply.js';
import { retryTransient, transientDbError } from './retry.js';
import { systemFault } from './db-errors.js';
import { MessageStatus, type FileRow, type MessageStatus as MsgStatus } from './ledger.js';
import { refusalFinding, refusalOf, storable, type Refusal } from './refusals.js';
import type { AckNamer, MessageStore } from './ports.js';

/** One message as the pipeline read it (pam/reading.ts), with what the ledger records of its bytes. */
export interface MessageItem {
  /** Position in the file (0-based). */
  index: number;
  /** SHA-256 of the message's bytes (hex): duplicate detection. */
  contentSha256: string;
  reading: MessageReading;
}

/** What processing a message needs besides the message. */
export interface MessageContext {
  file: FileRow;
  clock: Clock;
  log: Logger;
  staleUpdates: 'skip' | 'apply';
  authorityAliases: AuthorityAliases;
  /** Our identity in ACK MSH-3/4 when the inbound MSH-5/6 are empty. */
  self: { app: string; facility: string };
  /** Reimport: which live originals of the same key and content give way to a new attempt. */
  supersede?: 'failed' | 'all';
  acks: AckNamer;
}

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

/**
 * processMessage in a savepoint of its own: a statement the database refuses for this message's content rolls back
 * this message alone, which is then recorded as an AE 207 (nothing applied), and the file goes on. Any other error
 * fails the file (it stays claimed and is retried). A message redone after a refusal keeps the ACK name it took.
 */
export async function processGuarded(store: MessageStore, item: MessageItem, ctx: MessageContext): Promise<MessageResult> {
  let taken: string | null = null;
  const acks: AckNamer = { name: (c, i, ack) => (taken ??= ctx.acks.name(c, i, ack)), release: (n) => ctx.acks.release(n) };
  const c: MessageContext = { ...ctx, acks };
  let refusal: Refusal | null = null;
  try {
    return await store.atomic((s) => processMessage(s, item, c));
  } catch (err) {
    refusal = refusalOf(err);
    if (!refusal) throw err;
  }
  ctx.log.warn('the database refused a message; answered AE', { index: item.index, sqlstate: refusal.code });
  try {
    return await store.atomic((s) => processMessage(s, item, c, refusal));
  } catch (err) {
    // Refused again: the key itself may be the cause; recorded without it (no duplicate detection for this message).
    const again = refusalOf(err, true);
    if (!again) throw err;
    return store.atomic((s) => processMessage(s, item, c, { ...refusal, keyless: true }));
  }
}

/** Processes one message inside the group transaction; `refused`: record it as refused by the database, nothing else. */
export async function processMessage(store: MessageStore, item: MessageItem, ctx: MessageContext, refused?: Refusal): Promise<MessageResult> {
  const { clock, log, file, supersede } = ctx;
  const { ledger } = store;
  const contentSha = item.contentSha256;
  const now = clock.now();
  const nowIso = now.toISOString();
  const ackId = ackControlId(file.id, item.index, contentSha);
  const reading = item.reading;
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
    const orig = await ledger.findOriginal(app, fac, controlId);
    // Reimport: the original steps aside (superseded) and this attempt is processed as new.
    const retry = orig !== undefined && orig.content_sha256 === contentSha && (supersede === 'all' || (supersede === 'failed' && orig.outcome !== 'AA'))
      && await ledger.supersedeOriginal(orig.id, file.id);
    if (orig && !retry) {
      if (orig.content_sha256 === contentSha) {
        const ackName = ctx.acks.name(controlId, item.index, orig.ack);
        await ledger.insertMessage({ fileId: file.id, idx: item.index, sendingApp: app, sendingFacility: fac, controlId, contentSha256: contentSha,
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
        const attempt = () => store.atomic(async (s) => {
          const o = await applyCommand(s.identity, cmd, { now: nowIso, staleUpdates: ctx.staleUpdates, authorityAliases: ctx.authorityAliases });
          if (o.kind === 'rejected') throw new Rejected(o.findings);
          return o;
        });
        // PostgreSQL: a concurrent writer's deadlock, lock timeout or same-key insert is retried (store/retry.ts).
        const out: ApplyOutcome = store.dialect === 'pg'
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

  const ackText = buildAck({ inbound: msg, fallback: reading.fallback ?? undefined, code, findings, controlId: ackId, now, self: ctx.self });
  const ack = encodeText(ackText, charset);
  const ackName = ctx.acks.name(controlId, item.index, ack);
  const firstError = findings.find((f) => f.severity === Severity.Error);
  await ledger.insertMessage({ fileId: file.id, idx: item.index, sendingApp: app, sendingFacility: fac, controlId: refused?.keyless ? null : controlId,
    contentSha256: contentSha, event, messageTime, status, outcome: code, errorCode: firstError?.code ?? null, errorText: firstError?.text ?? null,
    patientId, ackName, ack, now: nowIso, sequenceNumber: refused ? null : sequenceNumber(msg) });
  log.debug('message', { controlId, event, outcome: code, status });
  return { ackName, ack, status, outcome: code };
}

