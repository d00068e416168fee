/**
 * Field names of the segments an ITI-30 message and its ACK carry (HL7 v2.5 chapters 2 and 3; PAM FR §6 for PID, PD1,
 * PV1 and the French ZFD segment), for the field tables of evidence pages. A field without a name here is shown by
 * its number only.
 */

const MSH = ['Field separator', 'Encoding characters', 'Sending application', 'Sending facility', 'Receiving application',
  'Receiving facility', 'Date/time of message', 'Security', 'Message type', 'Message control ID', 'Processing ID', 'Version ID',
  'Sequence number', 'Continuation pointer', 'Accept acknowledgment type', 'Application acknowledgment type', 'Country code',
  'Character set', 'Principal language of message', 'Alternate character set handling scheme', 'Message profile identifier'];

const EVN = ['Event type code', 'Recorded date/time', 'Date/time planned event', 'Event reason code', 'Operator ID',
  'Event occurred', 'Event facility'];

const PID = ['Set ID', 'Patient ID (not used)', 'Patient identifier list', 'Alternate patient ID (not used)', 'Patient name',
  "Mother's maiden name", 'Date/time of birth', 'Administrative sex', 'Patient alias (not used)', 'Race (forbidden)',
  'Patient address', 'County code', 'Phone number - home', 'Phone number - business', 'Primary language', 'Marital status',
  'Religion (forbidden)', 'Patient account number', 'SSN (not used)', "Driver's license (not used)", "Mother's identifier",
  'Ethnic group (forbidden)', 'Birth place', 'Multiple birth indicator', 'Birth order', 'Citizenship', 'Veterans military status',
  'Nationality', 'Patient death date and time', 'Patient death indicator', 'Identity unknown indicator',
  'Identity reliability code (PID-32 status)', 'Last update date/time', 'Last update facility', 'Species code', 'Breed code',
  'Strain', 'Production class code', 'Tribal citizenship'];

const PD1 = ['Living dependency', 'Living arrangement', 'Patient primary facility', 'Patient primary care provider',
  'Student indicator', 'Handicap', 'Living will code', 'Organ donor code', 'Separate bill', 'Duplicate patient',
  'Publicity code', 'Protection indicator', 'Protection indicator effective date', 'Place of worship', 'Advance directive code',
  'Immunization registry status', 'Immunization registry status effective date', 'Publicity code effective date',
  'Military branch', 'Military rank/grade', 'Military status'];

const PV1 = ['Set ID', 'Patient class', 'Assigned patient location', 'Admission type', 'Preadmit number', 'Prior patient location',
  'Attending doctor', 'Referring doctor', 'Consulting doctor', 'Hospital service', 'Temporary location', 'Preadmit test indicator',
  'Re-admission indicator', 'Admit source', 'Ambulatory status', 'VIP indicator', 'Admitting doctor', 'Patient type', 'Visit number',
  'Financial class'];

const MRG = ['Prior patient identifier list', 'Prior alternate patient ID', 'Prior patient account number', 'Prior patient ID',
  'Prior visit number', 'Prior alternate visit ID', 'Prior patient name'];

/** PAM FR §6 ZFD (French demographic complement). */
const ZFD = ['Lunar date', 'Weeks of gestation', 'SMS consent', 'Corrected birth date indicator', 'Identity obtained by',
  'Date of the INSi query', 'Identity document type', 'Identity document end of validity'];

const MSA = ['Acknowledgment code', 'Message control ID', 'Text message', 'Expected sequence number', 'Delayed acknowledgment type',
  'Error condition'];

const ERR = ['Error code and location (pre-2.5)', 'Error location', 'HL7 error code (table 0357)', 'Severity',
  'Application error code', 'Application error parameter', 'Diagnostic information', 'User message', 'Inform person indicator',
  'Override type', 'Override reason code', 'Help desk contact point'];

const NK1 = ['Set ID', 'Name', 'Relationship', 'Address', 'Phone number', 'Business phone number', 'Contact role'];

const NAMES: Readonly<Record<string, readonly string[]>> = { MSH, EVN, PID, PD1, PV1, MRG, ZFD, MSA, ERR, NK1 };

/** Name of field `n` (1-based) of segment `segment`, or null when unknown. */
export function fieldName(segment: string, n: number): string | null {
  return NAMES[segment]?.[n - 1] ?? null;
}
