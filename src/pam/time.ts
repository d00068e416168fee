/**
 * HL7 v2 TS / DTM values: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
 *
 * - `parseHl7Time` turns a message time (MSH-7) into a sortable UTC string `YYYYMMDDHHMMSS.ssss`, so that
 *   messages from senders in different offsets compare correctly (docs/behaviour.md "Duplicates and order":
 *   stale messages, `order: timestamp`).
 *   Missing precision is filled with the start of the period (`2025` → 1 January 00:00:00).
 *   **A value without an offset is read as local time of the process** (HL7 v2.5 §2.A.22: without an offset the
 *   time zone of the sender is assumed; a French feed and an importer running in France share it). Pass
 *   `defaultOffsetMinutes` to pin the offset instead (tests, or an importer running in another zone). A local time
 *   that falls in a DST gap is moved forward by the JS Date rules.
 * - `birthDate` keeps the calendar date as written (no offset shift: a birth date is not an instant).
 *
 * Both return null for anything that is not a valid calendar value. Leading/trailing spaces are tolerated
 * (real samples carry trailing spaces).
 */

/** 400 Gregorian years, in ms: used to dodge Date.UTC's 0–99 → 1900–1999 mapping. */
const MS_400_YEARS = 146097 * 86_400_000;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** '00'…'99': two-digit fields without String/padStart per value. */
const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : String(i)));

function pad4(n: number): string {
  return n >= 1000 ? String(n) : String(n).padStart(4, '0');
}

/**
 * A matched TS value: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`. Parts that were not sent are -1
 * (`frac` ''), `sign` 0 when there is no offset. `text` is the value matched (trimmed).
 */
interface Ts {
  text: string;
  year: number; month: number; day: number; hour: number; minute: number; second: number;
  frac: string;
  sign: number; offH: number; offM: number;
}

/** Two ASCII digits at i as a number, or -1. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Matches and range-checks a TS value (the grammar above; digits are ASCII 0–9 only). Returns null when it does
 * not match. Hours 00–23, minutes and seconds 00–59, offsets up to ±23:59. Scanned by hand: the same answers as
 * the regular expression `^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$`
 * it replaces (each optional part is taken whenever its digits are there; nothing else can consume digits).
 */
function matchTs(ts: string): Ts | null {
  const n = ts.length;
  if (n < 4) return null;
  const y1 = two(ts, 0);
  const y2 = two(ts, 2);
  if (y1 < 0 || y2 < 0) return null;
  const r: Ts = { text: ts, year: y1 * 100 + y2, month: -1, day: -1, hour: -1, minute: -1, second: -1, frac: '', sign: 0, offH: 0, offM: 0 };
  let i = 4;
  // Month, day, hour, minute, second: each two digits, each only after the previous one.
  for (let part = 0; part < 5 && i + 1 < n; part++) {
    const v = two(ts, i);
    if (v < 0) break;
    if (part === 0) r.month = v;
    else if (part === 1) r.day = v;
    else if (part === 2) r.hour = v;
    else if (part === 3) r.minute = v;
    else r.second = v;
    i += 2;
  }
  if (r.second >= 0 && i < n && ts.charCodeAt(i) === 46 /* . */) {
    let j = i + 1;
    while (j < n && j < i + 5) {
      const c = ts.charCodeAt(j);
      if (c < 48 || c > 57) break;
      j++;
    }
    if (j > i + 1) {
      r.frac = ts.slice(i + 1, j);
      i = j;
    }
  }
  if (i < n) {
    const c = ts.charCodeAt(i);
    if ((c !== 43 && c !== 45) || n - i !== 5) return null;
    const h = two(ts, i + 1);
    const m = two(ts, i + 3);
    if (h < 0 || m < 0) return null;
    r.sign = c === 45 ? -1 : 1;
    r.offH = h;
    r.offM = m;
  }
  if (r.month >= 0) {
    if (r.month < 1 || r.month > 12) return null;
    if (r.day >= 0 && (r.day < 1 || r.day > daysInMonth(r.year, r.month))) return null;
  }
  if (r.hour > 23 || r.minute > 59 || r.second > 59) return null;
  if (r.sign !== 0 && (r.offH > 23 || r.offM > 59)) return null;
  return r;
}

/** Days since 1970-01-01 → [year, month, day] (proleptic Gregorian; H. Hinnant's civil_from_days). */
function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
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
  const year = m.year;
  const month = m.month >= 0 ? m.month : 1;
  const day = m.day >= 0 ? m.day : 1;
  const hour = m.hour >= 0 ? m.hour : 0;
  const minute = m.minute >= 0 ? m.minute : 0;
  const second = m.second >= 0 ? m.second : 0;
  let ms: number;
  let offset: number | undefined = defaultOffsetMinutes;
  if (m.sign !== 0) offset = m.sign * (m.offH * 60 + m.offM);
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
  if (!Number.isFinite(ms)) return null;
  // UTC fields by arithmetic (whole seconds: the fraction is copied below), no Date object.
  const days = Math.floor(ms / 86_400_000);
  const [uy, um, ud] = civilFromDays(days);
  if (!(uy >= 0 && uy <= 9999)) return null;
  let rest = (ms - days * 86_400_000) / 1000;
  const uh = Math.floor(rest / 3600);
  rest -= uh * 3600;
  const umin = Math.floor(rest / 60);
  const us = rest - umin * 60;
  // The fraction is not shifted by an offset (offsets are whole minutes): copy it, right-padded to 4 digits.
  const frac = m.frac === '' ? '0000' : m.frac.padEnd(4, '0');
  return pad4(uy) + TWO_DIGITS[um]! + TWO_DIGITS[ud]! + TWO_DIGITS[uh]! + TWO_DIGITS[umin]! + TWO_DIGITS[us]! + '.' + frac;
}

/**
 * A birth (or death) date from an HL7 TS value, as written (time and offset ignored, no time-zone shift):
 * `YYYY-MM-DD`, or `YYYY-MM` / `YYYY` when sent with less precision.
 * @returns null when the value is empty or not a valid date/time.
 */
export function birthDate(ts: string): string | null {
  const m = matchTs(ts.length > 0 && (ts.charCodeAt(0) === 32 || ts.charCodeAt(ts.length - 1) === 32) ? ts.trim() : ts);
  if (!m) return null;
  const t = m.text;
  if (m.month < 0) return t.slice(0, 4);
  if (m.day < 0) return `${t.slice(0, 4)}-${t.slice(4, 6)}`;
  return `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}`;
}
