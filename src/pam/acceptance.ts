/**
 * Message acceptance for an ITI-30 Patient Demographics Consumer, in the fixed order of IPF
 * `Hl7v2TransactionConfiguration.checkMessageAcceptance`: version, message type, trigger event,
 * then the control id we need for the ledger and the ACK. Every failure is an AR with a
 * 0357 code, located, whose text names the allowed values and never carries patient data.
 * The event sets are data, as in IPF `Iti30Options` (PAM FR §2.1, docs/behaviour.md "Per event").
 */
import { ErrorCode, Severity, type Finding } from '../hl7/errors.js';
import type { Hl7Message, Hl7Segment } from '../hl7/model.js';
import type { PamOptions } from './types.js';

/** Events of the Merge option, mandatory in France (PAM FR §2.1). */
export const MERGE_EVENTS: readonly string[] = Object.freeze(['A28', 'A31', 'A40', 'A47']);
/** Events added by the Link/Unlink option (PamOptions.linkUnlink). */
export const LINK_UNLINK_EVENTS: readonly string[] = Object.freeze(['A24', 'A37']);
/** The only message type accepted (MSH-9.1). */
export const ACCEPTED_MESSAGE_TYPE = 'ADT';
/** The only HL7 major version accepted (MSH-12.1 before the first dot). */
export const ACCEPTED_MAJOR_VERSION = '2';

const MERGE_TEXT = MERGE_EVENTS.join(', ');
const ALL_TEXT = [...MERGE_EVENTS, ...LINK_UNLINK_EVENTS].join(', ');

/** The trigger events accepted with these options, in a stable order. */
export function acceptedEvents(options: PamOptions): readonly string[] {
  return options.linkUnlink ? [...MERGE_EVENTS, ...LINK_UNLINK_EVENTS] : MERGE_EVENTS;
}

function isAcceptedEvent(event: string, options: PamOptions): boolean {
  return MERGE_EVENTS.includes(event) || (options.linkUnlink && LINK_UNLINK_EVENTS.includes(event));
}

/**
 * Checks, in this order (the first failure wins, as in IPF):
 * 1. MSH-12.1 major version is 2 (`2.5`, `2.5.1`, `2`…) → else 203 at MSH-12;
 * 2. MSH-9.1 is `ADT` → else 200 at MSH-9.1;
 * 3. MSH-9.2 is A28/A31/A40/A47 (+ A24/A37 with options.linkUnlink) → else 201 at MSH-9.2 (A29, A08 and every
 *    ITI-31 event included, docs/behaviour.md);
 * 4. MSH-10 is present → else 101 at MSH-10.
 * The message structure (MSH-9.3) is not checked: senders vary it and nothing depends on it.
 * @returns the finding (severity E, to be answered with AR), or undefined when the message is acceptable.
 */
export function checkAcceptance(msg: Hl7Message, options: PamOptions): Finding | undefined {
  const msh = msg.msh;
  return acceptanceOf(msh, msh.get(9, 2), msh.get(10), options);
}

/**
 * checkAcceptance with MSH-9.2 and MSH-10 already read (interpret has them from readHeader).
 * @internal
 */
export function acceptanceOf(msh: Hl7Segment, event: string, controlId: string, options: PamOptions): Finding | undefined {
  const version = msh.get(12, 1);
  const dot = version.indexOf('.');
  const major = dot < 0 ? version : version.slice(0, dot);
  if (major !== ACCEPTED_MAJOR_VERSION) {
    return {
      code: ErrorCode.UnsupportedVersion, severity: Severity.Error,
      location: { segment: 'MSH', sequence: 1, field: 12 },
      text: `MSH-12: unsupported HL7 version, must be ${ACCEPTED_MAJOR_VERSION}.x (e.g. 2.5)`,
    };
  }
  if (msh.get(9, 1) !== ACCEPTED_MESSAGE_TYPE) {
    return {
      code: ErrorCode.UnsupportedMessageType, severity: Severity.Error,
      location: { segment: 'MSH', sequence: 1, field: 9, repetition: 1, component: 1 },
      text: `MSH-9.1: unsupported message type, must be ${ACCEPTED_MESSAGE_TYPE}`,
    };
  }
  if (!isAcceptedEvent(event, options)) {
    return {
      code: ErrorCode.UnsupportedEvent, severity: Severity.Error,
      location: { segment: 'MSH', sequence: 1, field: 9, repetition: 1, component: 2 },
      text: `MSH-9.2: unsupported trigger event, must be one of ${options.linkUnlink ? ALL_TEXT : MERGE_TEXT}`,
    };
  }
  if (controlId === '') {
    return {
      code: ErrorCode.RequiredFieldMissing, severity: Severity.Error,
      location: { segment: 'MSH', sequence: 1, field: 10 },
      text: 'MSH-10: message control id is required',
    };
  }
  return undefined;
}
