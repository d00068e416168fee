/**
 * HL7 v2 TS / DTM values: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
 *
 * - `parseHl7Time` turns a message time (MSH-7) into a sortable UTC string `YYYYMMDDHHMMSS.ssss`, so that
 *   messages from senders in different offsets compare correctly (decisions.md "stale" rule, `order: timestamp`).
 *   Missing precision is filled with the start of the period (`2025` → 1 January 00:00:00).
 *   **A value without an offset is read as local time of the process** (HL7 v2.5 §2.A.22: without an offset the
 *   time zone of the sender is assumed; a French feed and an importer running in France share it). Pass
 *   `defaultOffsetMinutes` to pin the offset instead (tests, or an importer running in another zone). A local time
 *   that falls in a DST gap is moved forward by the JS Date rules.
 * - `birthDate` keeps the calendar date as written (no offset shift: a birth date is not an instant).
 *
 * Both return null for anything that is not a valid calendar value. Leading/trailing spaces are tolerated
 * (real samples carry trailing spaces, pam-fr.md §6).
 */

// Compiled once: groups 1–7 = year, month, day, hour, minute, second, fraction; 8–10 = sign, offset hours, minutes.
const TS_RE = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

/** 400 Gregorian years, in ms: used to dodge Date.UTC's 0–99 → 1900–1999 mapping. */
const MS_400_YEARS = 146097 * 86_400_000;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Matches and range-checks a TS value. Returns the regex match (groups as above) or null.
 * Hours 00–23, minutes and seconds 00–59, offsets up to ±23:59.
 */
function matchTs(ts: string): RegExpExecArray | null {
  const m = TS_RE.exec(ts);
  if (!m) return null;
  const year = Number(m[1]);
  if (m[2] !== undefined) {
    const month = Number(m[2]);
    if (month < 1 || month > 12) return null;
    if (m[3] !== undefined) {
      const day = Number(m[3]);
      if (day < 1 || day > daysInMonth(year, month)) return null;
    }
  }
  if (m[4] !== undefined && Number(m[4]) > 23) return null;
  if (m[5] !== undefined && Number(m[5]) > 59) return null;
  if (m[6] !== undefined && Number(m[6]) > 59) return null;
  if (m[8] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  return m;
}

/**
 * Parses an HL7 TS/DTM value (component 1 of a TS field) into a sortable UTC string `YYYYMMDDHHMMSS.ssss`.
 * @param ts the value, e.g. `20250312101500`, `20250312101500.12+0100`, `2025`.
 * @param defaultOffsetMinutes offset east of UTC to assume when the value carries none; default: the process's
 *   local time zone at that date.
 * @returns the UTC string, or null when the value is empty or not a valid date/time.
 */
export function parseHl7Time(ts: string, defaultOffsetMinutes?: number): string | null {
  const m = matchTs(ts.length > 0 && (ts.charCodeAt(0) === 32 || ts.charCodeAt(ts.length - 1) === 32) ? ts.trim() : ts);
  if (!m) return null;
  const year = Number(m[1]);
  const month = m[2] !== undefined ? Number(m[2]) : 1;
  const day = m[3] !== undefined ? Number(m[3]) : 1;
  const hour = m[4] !== undefined ? Number(m[4]) : 0;
  const minute = m[5] !== undefined ? Number(m[5]) : 0;
  const second = m[6] !== undefined ? Number(m[6]) : 0;
  let ms: number;
  let offset: number | undefined = defaultOffsetMinutes;
  if (m[8] !== undefined) offset = (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  if (offset !== undefined) {
    // Date.UTC maps years 0–99 to 1900–1999: compute 400 years later and take them back.
    ms = year < 100
      ? Date.UTC(year + 400, month - 1, day, hour, minute, second) - MS_400_YEARS
      : Date.UTC(year, month - 1, day, hour, minute, second);
    ms -= offset * 60_000;
  } else {
    const d = new Date(0);
    d.setFullYear(year, month - 1, day);
    d.setHours(hour, minute, second, 0);
    ms = d.getTime();
  }
  const u = new Date(ms);
  const uy = u.getUTCFullYear();
  if (!(uy >= 0 && uy <= 9999)) return null;
  // The fraction is not shifted by an offset (offsets are whole minutes): copy it, right-padded to 4 digits.
  const frac = m[7] === undefined ? '0000' : m[7].padEnd(4, '0');
  return pad(uy, 4) + pad(u.getUTCMonth() + 1, 2) + pad(u.getUTCDate(), 2)
    + pad(u.getUTCHours(), 2) + pad(u.getUTCMinutes(), 2) + pad(u.getUTCSeconds(), 2) + '.' + frac;
}

/**
 * A birth (or death) date from an HL7 TS value, as written (time and offset ignored, no time-zone shift):
 * `YYYY-MM-DD`, or `YYYY-MM` / `YYYY` when sent with less precision.
 * @returns null when the value is empty or not a valid date/time.
 */
export function birthDate(ts: string): string | null {
  const m = matchTs(ts.length > 0 && (ts.charCodeAt(0) === 32 || ts.charCodeAt(ts.length - 1) === 32) ? ts.trim() : ts);
  if (!m) return null;
  if (m[2] === undefined) return m[1]!;
  if (m[3] === undefined) return `${m[1]}-${m[2]}`;
  return `${m[1]}-${m[2]}-${m[3]}`;
}
