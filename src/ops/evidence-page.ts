/**
 * Evidence pages (docs/evidence.md): one self-contained HTML page per message, and an index. One inline style sheet,
 * no script, no image, no external resource, so a page opens anywhere and prints as it shows. Every value is
 * HTML-escaped whatever its origin: names, identifiers and control ids come from the sender.
 */
import { Hl7Message } from '../hl7/model.js';
import { fieldName } from '../hl7/field-names.js';
import type { IdentityState, MessageEvidence, RecordEvidence } from './evidence.js';

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const STYLE = `
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6776; --line: #dde3ea; --bg: #f5f7fa; --card: #fff;
  --ok: #1b7f3b; --ok-bg: #e3f4e8; --bad: #b3261e; --bad-bg: #fde7e5; --warn: #8a5a00; --warn-bg: #fff1d6; --chg: #fff6cc; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); background: var(--bg); }
header { background: #16324f; color: #fff; padding: 14px 24px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 19px; margin: 0; font-weight: 600; }
header .meta { color: #c9d6e3; font-size: 13px; }
main { padding: 18px 24px 32px; max-width: 1400px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 0 0 18px; padding: 14px 16px; break-inside: avoid-page; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
h3 { font-size: 14px; margin: 12px 0 6px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
tr.changed td { background: var(--chg); }
tbody th { text-transform: none; letter-spacing: 0; font-size: 13px; font-weight: 500; background: none; white-space: nowrap; }
td.nowrap { white-space: nowrap; overflow-wrap: normal; }
pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; background: #f3f5f8; border: 1px solid var(--line);
  border-radius: 6px; padding: 10px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0 0 10px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.ok { color: var(--ok); background: var(--ok-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.phi { background: var(--warn-bg); color: var(--warn); border: 1px solid #f0d49a; border-radius: 6px; padding: 8px 12px; margin: 0 0 16px; }
.empty { color: var(--muted); font-style: italic; }
a { color: #1f4b8f; }
footer { color: var(--muted); font-size: 12px; padding: 0 24px 24px; }
`;

export const PHI_NOTE = 'This page holds patient identity data (names, birth data, INS) by design: keep it access-restricted and deposit it only where the test platform asks for it.';

/** A complete page around `body`. */
export function page(title: string, subtitle: string, body: string, generatedAt: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><span class="meta">${esc(subtitle)}</span></header>
<main>
<p class="phi">${esc(PHI_NOTE)}</p>
${body}
</main>
<footer>pamdrop evidence · generated ${esc(generatedAt)} from the message ledger and the identity store (nothing re-run)</footer>
</body>
</html>
`;
}

export const badge = (code: string): string => `<span class="badge ${code === 'AA' || code === 'PASS' ? 'ok' : code === '' ? 'warn' : 'bad'}">${esc(code || '?')}</span>`;

const dl = (rows: Array<[string, unknown] | [string, unknown, 'html']>): string =>
  `<dl>${rows.map((r) => `<dt>${esc(r[0])}</dt><dd>${r[2] === 'html' ? String(r[1]) : esc(r[1] ?? '—')}</dd>`).join('')}</dl>`;

/** Segment / field table of a message text: one row per non-empty field, with its name where known. */
export function fieldTable(text: string, id: string): string {
  let msg: Hl7Message;
  try {
    msg = Hl7Message.parse(text);
  } catch {
    return '<p class="empty">The segments cannot be read as HL7 (see the raw text above).</p>';
  }
  const rows: string[] = [];
  for (const seg of msg.segments) {
    const occ = msg.all(seg.name).length > 1 ? `(${seg.occurrence})` : '';
    for (let n = 1; n <= seg.size; n++) {
      const v = seg.raw(n);
      if (v === '') continue;
      rows.push(`<tr><td class="mono">${esc(`${seg.name}${occ}-${n}`)}</td><td>${esc(fieldName(seg.name, n) ?? '')}</td><td class="mono">${esc(v)}</td></tr>`);
    }
  }
  return `<table id="${esc(id)}"><thead><tr><th>Field</th><th>Name</th><th>Value (as sent)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const rawText = (text: string): string => `<pre>${esc(text.split(/\r\n|\r|\n/).filter((l) => l !== '').join('\n'))}</pre>`;

const show = (v: unknown): string => {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
};
const identifier = (i: { value: string; authority: string; oid: string | null; type: string }) => `${i.value} (${i.authority}${i.oid ? ` ${i.oid}` : ''}, ${i.type})`;

/** The identity fields shown, in order, with how to read each from a state. */
const IDENTITY_ROWS: Array<[string, (s: IdentityState) => unknown]> = [
  ['Identifiers', (s) => s.identifiers.map(identifier).join('; ')],
  ['INS', (s) => s.ins.map((i) => `${i.value} (${i.kind}, ${i.oid})`).join('; ')],
  ['PID-32 status', (s) => s.status],
  ['PID-32 attributes', (s) => s.attributes.join(', ')],
  ['Qualified identity', (s) => s.qualified],
  ['Birth name', (s) => s.birthName],
  ['First given name', (s) => s.firstName],
  ['Given names', (s) => s.birthGivenNames],
  ['Used name', (s) => s.usedName],
  ['Used first name', (s) => s.usedFirstName],
  ['Birth date', (s) => s.birthDate],
  ['Sex', (s) => s.sex],
  ['Birthplace (INSEE code)', (s) => s.birthPlace],
  ['Names (PID-5 by type)', (s) => s.names],
  ['Addresses (PID-11 by type)', (s) => s.addresses],
  ['Other fields', (s) => s.other],
  ['Active', (s) => s.active],
  ['Merged into', (s) => (s.mergedInto ? identifier(s.mergedInto) : null)],
];

function recordSection(r: RecordEvidence, i: number): string {
  const rows = IDENTITY_ROWS.map(([label, read]) => {
    const b = r.before ? show(read(r.before)) : '(no record)';
    const a = r.after ? show(read(r.after)) : '(no record)';
    return `<tr class="${b !== a ? 'changed' : ''}"><th scope="row">${esc(label)}</th><td class="mono">${esc(b)}</td><td class="mono">${esc(a)}</td></tr>`;
  }).join('');
  const history = r.history.length === 0 ? '<p class="empty">This message wrote no history row for this record (nothing changed).</p>'
    : r.history.map((h) => `<h3>History row ${esc(h.id)} · ${esc(h.event)} · recorded ${esc(h.recordedAt)}</h3>
<table class="history"><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead><tbody>${h.changes.map((c) =>
      `<tr><td class="mono">${esc(c.field)}</td><td class="mono">${esc(show(c.before))}</td><td class="mono">${esc(show(c.after))}</td></tr>`).join('')}</tbody></table>`).join('');
  return `<h3>Record ${esc(r.recordId)}</h3>
<table id="identity-${i + 1}" class="identity"><thead><tr><th>Field</th><th>Before this message</th><th>After this message</th></tr></thead><tbody>${rows}</tbody></table>
${history}`;
}

/** The page of one message. `extra` (scenarios) goes first: the step and its expected outcome. */
export function messagePage(ev: MessageEvidence, generatedAt: string, extra = ''): string {
  const l = ev.ledger;
  const t = ev.transport;
  const check = ev.ack.check;
  const summary = dl([
    ['Control id (MSH-10)', l.control_id],
    ['Event', l.event],
    ['Sender (MSH-3 / MSH-4)', `${l.sending_app} / ${l.sending_facility}`],
    ['Message time (MSH-7)', l.message_time],
    ['ACK code (MSA-1)', badge(l.outcome), 'html'],
    ['First error', l.error_code !== null ? `${l.error_code} ${l.error_text ?? ''}` : null],
    ['Ledger outcome', `${l.status}${l.superseded ? ' (superseded by a later reimport)' : ''}`],
    ['Ledger message id', l.id],
    ['Processed at', l.created_at],
  ]);
  const transport = t.kind === 'mllp' ? dl([
    ['Transport', 'MLLP'],
    ['Listener', t.source],
    ['Connection', t.fileName],
    ['Peer', t.path.replace(/^mllp:\/\//, '')],
    ['Position on the connection', `message ${t.index + 1}`],
    ['Connection ledger id', l.file_id],
  ]) : dl([
    ['Transport', 'file drop'],
    ['Source', t.source],
    ['File name', t.fileName],
    ['Read from', t.path],
    ['Archived at', t.archivedPath],
    ['File state', t.fileState],
    ['File SHA-256', t.fileSha256],
    ['Position in the file', `message ${t.index + 1}`],
    ['Byte offset of its MSH', t.offset],
    ['Line of its MSH', t.line],
    ['Reimport of file', t.reimportOf],
    ['File ledger id', l.file_id],
  ]);
  const inbound = ev.inbound.text === null
    ? `<p class="empty">${esc(ev.inbound.unavailable ?? 'not available')}</p>`
    : `<p>Character set: ${esc(ev.inbound.charset)} · bytes ${ev.inbound.hashMatches ? 'identical to' : '<strong>differ from</strong>'} the ledger's record (SHA-256)</p>${rawText(ev.inbound.text)}${fieldTable(ev.inbound.text, 'inbound-fields')}`;
  const ackCheck = check.problems.length === 0
    ? '<p id="ack-check"><span class="badge ok">well formed</span> MSH, MSA and ERR as HL7 v2.5 and PAM FR expect</p>'
    : `<div id="ack-check"><span class="badge bad">${check.problems.length} irregularities</span><ul>${check.problems.map((p) => `<li>${esc(p.location)}: ${esc(p.text)}</li>`).join('')}</ul></div>`;
  const records = ev.records.length === 0 ? '<p class="empty">No identity record: the message applied nothing (see the ACK).</p>'
    : ev.records.map(recordSection).join('');
  const body = `${extra}
<section id="summary"><h2>Message</h2>${summary}</section>
<section id="transport"><h2>Transport</h2>${transport}</section>
<section id="inbound"><h2>Message received</h2>${inbound}</section>
<section id="ack"><h2>ACK sent · ${esc(ev.ack.name)}</h2>${ackCheck}${rawText(ev.ack.text)}${fieldTable(ev.ack.text, 'ack-fields')}</section>
<section id="identity"><h2>Identity as stored, before and after</h2>${records}</section>`;
  return page(`Evidence · ${l.control_id ?? `message ${l.id}`} · ${l.event ?? '?'} · ${l.outcome}`, `ledger message ${l.id} · ${t.fileName}`, body, generatedAt);
}

/** Safe, unique page name for a message. */
export const pageName = (ev: MessageEvidence): string =>
  `message-${ev.ledger.id}-${(ev.ledger.control_id ?? 'none').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)}.html`;

/** Index of an evidence bundle: one row per message page. */
export function indexPage(items: ReadonlyArray<{ ev: MessageEvidence; href: string }>, generatedAt: string): string {
  const rows = items.map(({ ev, href }) => `<tr><td><a href="${esc(href)}">${esc(ev.ledger.control_id ?? '—')}</a></td><td>${esc(ev.ledger.event)}</td>`
    + `<td>${badge(ev.ledger.outcome)}</td><td>${esc(ev.transport.fileName)}</td><td>${esc(ev.ledger.created_at)}</td>`
    + `<td>${ev.ack.check.problems.length === 0 ? '<span class="badge ok">well formed</span>' : '<span class="badge bad">irregular</span>'}</td></tr>`).join('');
  return page('Evidence bundle', `${items.length} message(s)`, `<section><h2>Messages</h2><table id="messages"><thead><tr><th>Control id</th><th>Event</th><th>ACK</th><th>File</th><th>Processed at</th><th>ACK structure</th></tr></thead><tbody>${rows}</tbody></table></section>`, generatedAt);
}
