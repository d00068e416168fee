/**
 * Text rendering shared by the operations commands: values of history changes, identifiers, tables, dates.
 * These texts go to stdout of commands an operator runs on purpose (like `pamdrop patient`), never to logs.
 */
import type { FieldChange, IdentifierView } from '../store/identity.js';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `100234 (CHEX)`, `100234 (1.2.250…)` for an identifier; '—' for none. */
export function formatIdentifier(id: IdentifierView | null | undefined): string {
  if (!id) return '—';
  const auth = id.authority !== '' ? id.authority : (id.oid ?? '');
  return `${id.value}${auth ? ` (${auth}${id.type && id.type !== 'PI' ? ` ${id.type}` : ''})` : ''}`;
}

/** A stored value (string, name, address, INS, identifier, list) as one short line. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? '—' : v.map(formatValue).join(', ');
  if (isObj(v)) {
    // INS {value, oid, kind}
    if (typeof v.kind === 'string' && typeof v.value === 'string' && typeof v.oid === 'string') return `${v.kind} ${v.value}`;
    // identifier {value, authority, oid, type}
    if (typeof v.value === 'string' && 'type' in v) return formatIdentifier(v as unknown as IdentifierView);
    // name {family, given, givenNames, prefix} or address {street, …, countyCode}: the non-empty parts
    const parts = Object.values(v).filter((x) => x !== null && x !== undefined && x !== '').map(formatValue);
    return parts.length === 0 ? '—' : parts.join(' ');
  }
  return JSON.stringify(v);
}

/** `field: before → after`. */
export function formatChange(c: FieldChange): string {
  return `${c.field}: ${formatValue(c.before)} → ${formatValue(c.after)}`;
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: ReadonlyArray<readonly string[]>, indent = ''): string {
  if (rows.length === 0) return '';
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, [...c].length); });
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Local calendar day `YYYY-MM-DD` of an ISO instant (the archive's dated folders use the local day too). */
export function localDay(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** `YYYY-MM-DD HH:MM:SS` local time of an ISO instant ('—' for null). */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${localDay(d)} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** MSH-7 as normalised by pam/time.ts (`YYYYMMDDHHMMSS.ssss`, UTC) → local `YYYY-MM-DD HH:MM:SS`. */
export function messageTime(t: string | null | undefined): string {
  if (!t) return '—';
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/.exec(t);
  if (!m) return t;
  return localTime(new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)).toISOString());
}

/** A duration in ms as `3d 4h`, `2h 5m`, `45s`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/**
 * Parses a `--since` value: `YYYY-MM-DD` (local midnight), an ISO-8601 instant, or a relative `7d` / `12h`.
 * Returns null when unreadable.
 */
export function parseSince(text: string, now: Date): Date | null {
  const rel = /^(\d+)([dh])$/.exec(text.trim());
  if (rel) {
    const n = Number(rel[1]);
    if (rel[2] === 'h') return new Date(now.getTime() - n * 3_600_000);
    const d = new Date(now);
    d.setHours(0, 0, 0, 0);
    d.setDate(d.getDate() - n + 1);
    return d;
  }
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (day) {
    const d = new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    return Number.isNaN(d.getTime()) || d.getDate() !== Number(day[3]) ? null : d;
  }
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? null : d;
}
