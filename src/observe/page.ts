/**
 * The read-only status page of `watch`, rendered on the server: plain HTML and one inline style sheet, no
 * script, no external resource (the Content-Security-Policy allows none). Every value is HTML-escaped, whatever its
 * origin (file names and control ids come from the sender).
 *
 * Patient data: none unless the operator turned `showIdentities` on. Without it the last-messages table has no
 * patient column and the lookup form is replaced by a note; `/patient` answers "identities hidden".
 */
import type { Health, SourceHealth } from './observer.js';
import type { PageData, RecentMessage, WaitingFile } from './read.js';
import type { PatientView } from '../store/patients.js';
import type { ListenerView } from '../mllp/listener.js';
import { duration, formatIdentifier, formatValue, localTime, messageTime } from '../ops/format.js';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const e = escapeHtml;

const STYLE = `
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6776; --line: #dde3ea; --bg: #f5f7fa; --card: #fff;
  --ok: #1b7f3b; --ok-bg: #e3f4e8; --warn: #8a5a00; --warn-bg: #fff1d6; --bad: #b3261e; --bad-bg: #fde7e5; --info-bg: #e8eef8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
header { background: #16324f; color: #fff; padding: 14px 24px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 19px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header .meta { color: #c9d6e3; font-size: 13px; }
header .health { margin-left: auto; }
main { padding: 18px 24px 32px; max-width: 1400px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 0 0 18px; padding: 14px 16px; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
h2 .count { color: var(--muted); font-weight: 400; margin-left: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); font-weight: 600; background: #fafbfc; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, span.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
td.reason { color: var(--muted); max-width: 520px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.ok { color: var(--ok); background: var(--ok-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.info { color: #1f4b8f; background: var(--info-bg); }
.empty { color: var(--muted); font-style: italic; margin: 4px 0; }
.note { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
input[type=text] { font: inherit; padding: 6px 10px; border: 1px solid #b8c2cd; border-radius: 6px; min-width: 260px; }
button { font: inherit; padding: 6px 14px; border: 0; border-radius: 6px; background: #16324f; color: #fff; cursor: pointer; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
a { color: #1f4b8f; }
footer { color: var(--muted); font-size: 12px; padding: 0 24px 24px; }
`;

function layout(title: string, body: string, opts: { refreshSeconds?: number; headerRight?: string; subtitle?: string } = {}): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${opts.refreshSeconds ? `<meta http-equiv="refresh" content="${opts.refreshSeconds}">\n` : ''}<title>${e(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${e(title)}</h1>${opts.subtitle ? `<span class="meta">${opts.subtitle}</span>` : ''}${opts.headerRight ? `<span class="health">${opts.headerRight}</span>` : ''}</header>
<main>
${body}
</main>
<footer>pamdrop · read-only · <a href="/">status</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></footer>
</body>
</html>
`;
}

function badge(text: string, kind: 'ok' | 'warn' | 'bad' | 'info'): string {
  return `<span class="badge ${kind}">${e(text)}</span>`;
}

const STATE_BADGE: Record<SourceHealth['state'], 'ok' | 'warn' | 'bad' | 'info'> = { ok: 'ok', busy: 'info', waiting: 'info', late: 'bad', elsewhere: 'info' };
const STATE_TEXT: Record<SourceHealth['state'], string> = { ok: 'ok', busy: 'busy (long file)', waiting: 'waiting its turn', late: 'late', elsewhere: 'other instance' };

function outcomeBadge(m: RecentMessage): string {
  const kind = m.outcome === 'AA' ? (m.status === 'applied' ? 'ok' : 'info') : m.outcome === 'AE' ? 'warn' : 'bad';
  return badge(m.outcome, kind);
}

function table(head: readonly string[], rows: readonly string[], id: string, empty: string): string {
  if (rows.length === 0) return `<p class="empty" id="${e(id)}-empty">${e(empty)}</p>`;
  return `<table id="${e(id)}"><thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function sourcesSection(data: PageData, health: Health): string {
  const rows = health.sources.map((h) => {
    const st = data.status.sources.find((s) => s.source === h.source);
    const last = st?.lastFile;
    return `<tr data-source="${e(h.source)}"><td><strong>${e(h.source)}</strong></td><td>${e(st?.type ?? '')}</td>`
      + `<td>${e(localTime(h.lastCycleAt))}${h.lastCycleAt ? ` <span class="note">(${e(duration(h.ageMs))} ago)</span>` : ''}</td>`
      + `<td>${badge(STATE_TEXT[h.state], STATE_BADGE[h.state])}${h.lastError ? `<div class="note">${e(h.lastError)}</div>` : ''}</td>`
      + `<td class="num">${e(h.pollMs < 1000 ? `${h.pollMs} ms` : duration(h.pollMs))}</td>`
      + `<td class="num">${e(st?.inbox.pending ?? 0)}</td>`
      + `<td>${last ? `${e(last.name)} <span class="note">${e(last.state)}, ${e(localTime(last.finishedAt))}</span>` : '—'}</td>`
      + `<td>${st?.feed ? (st.feed.quiet ? badge('quiet', 'warn') : badge('ok', 'ok')) : '—'}</td></tr>`;
  });
  return `<section><h2>Sources<span class="count">${e(health.sources.length)}</span></h2>
${table(['Source', 'Type', 'Last successful cycle', 'Health', 'Poll', 'Pending', 'Last file', 'Feed'], rows, 'sources', 'No source.')}
<p class="note">A source is late when it has not completed a poll cycle within 3 × its poll interval (see <a href="/healthz">/healthz</a>).</p></section>`;
}

function inboxSection(data: PageData): string {
  const unfinished = data.status.pending.unfinished.map((u) => `<tr><td>${e(u.source)}</td><td class="mono">${e(u.name)}</td><td>${badge(u.state, 'info')}</td>`
    + `<td>${e(localTime(u.claimedAt))}</td><td>${e(u.owner ?? '—')}</td></tr>`);
  const waiting = data.inbox.map((f: WaitingFile) => `<tr><td>${e(f.source)}</td><td class="mono">${e(f.name)}</td><td class="num">${e(f.size.toLocaleString('en'))}</td>`
    + `<td>${e(duration(f.ageMs))}</td><td>${badge(f.reason, f.reason === 'pending' || f.reason === 'in-progress' ? 'info' : f.reason === 'still-changing' || f.reason === 'waiting-for-marker' || f.reason === 'link' ? 'warn' : 'bad')}</td></tr>`);
  return `<section><h2>Pending files<span class="count">${e(data.inbox.length)}</span></h2>
${table(['Source', 'File', 'Bytes', 'Age', 'Why it waits'], waiting, 'pending', 'Every inbox is empty.')}
${unfinished.length > 0 ? `<h2 style="margin-top:14px">Being processed or interrupted<span class="count">${e(unfinished.length)}</span></h2>
${table(['Source', 'File', 'State', 'Claimed', 'Owner'], unfinished, 'unfinished', '')}` : ''}</section>`;
}

function quarantineSection(data: PageData): string {
  const q = data.status.failed;
  const rows = q.recentQuarantined.map((f) => `<tr><td>${e(f.source)}</td><td class="mono">${e(f.name)}</td><td class="reason">${e(f.reason ?? '—')}</td>`
    + `<td>${e(localTime(f.at))}</td><td class="num">${e(f.id)}</td></tr>`);
  return `<section><h2>Quarantined files<span class="count">${e(q.quarantinedFiles)}</span></h2>
${table(['Source', 'File', 'Reason', 'When', 'Ledger id'], rows, 'quarantined', 'No file in quarantine.')}
${q.quarantinedFiles > q.recentQuarantined.length ? `<p class="note">The ${e(q.recentQuarantined.length)} most recent are shown; <span class="mono">pamdrop status</span> lists them.</p>` : ''}
<p class="note">Messages with a live AE/AR outcome: ${e(q.failedMessages)} (${e(q.failedMessagesLast24h)} in the last 24 h) — <span class="mono">pamdrop errors</span> lists them.</p></section>`;
}

function messagesSection(data: PageData, showIdentities: boolean): string {
  const rows = data.messages.map((m) => {
    const main = m.outcome === 'AA' && m.status === 'applied' ? '' : `${e(m.status)}${m.code !== null ? ` ${e(m.code)}` : ''}${m.reason ? `: ${e(m.reason)}` : ''}`;
    const warnings = m.warnings.map((w) => `W ${e(w.code)}: ${e(w.text)}`);
    const detail = [main, ...warnings].filter((x) => x !== '').join('<br>');
    const who = showIdentities ? `<td>${m.patient ? `${e(m.patient.identifier ?? '—')}<div class="note">${e(m.patient.name ?? '')}</div>` : '—'}</td>` : '';
    return `<tr><td>${e(localTime(m.at))}</td><td>${e(m.source)}</td><td class="mono">${e(m.file)}</td><td class="mono">${e(m.controlId ?? '—')}</td>`
      + `<td>${e(m.event ?? '—')}</td><td>${outcomeBadge(m)}</td><td class="reason">${detail || '—'}</td>${who}</tr>`;
  });
  const head = ['Processed', 'Source', 'File', 'Control id', 'Event', 'Outcome', 'Detail', ...(showIdentities ? ['Patient'] : [])];
  return `<section><h2>Last messages<span class="count">${e(data.messages.length)}</span></h2>
${table(head, rows, 'messages', 'No message processed yet.')}
${showIdentities ? '' : '<p class="note">Patient names and identifiers are hidden (<span class="mono">showIdentities</span> is off).</p>'}</section>`;
}

function lookupSection(showIdentities: boolean, value = ''): string {
  if (!showIdentities) {
    return `<section id="lookup"><h2>Patient lookup</h2><p class="empty">Identities are hidden on this page (<span class="mono">showIdentities</span> is off in the configuration). Use <span class="mono">pamdrop patient &lt;identifier&gt;</span> on the server.</p></section>`;
  }
  return `<section id="lookup"><h2>Patient lookup</h2>
<form method="get" action="/patient"><label for="id">Identifier (IPP, any authority) or INS</label>
<input type="text" id="id" name="id" value="${e(value)}" required autocomplete="off" spellcheck="false"><button type="submit">Look up</button></form></section>`;
}

/** The status page. */
/** MLLP listeners and their live connections (peer address, since, messages): no patient data. */
function listenersSection(listeners: readonly ListenerView[]): string {
  if (listeners.length === 0) return '';
  const rows = listeners.flatMap((l) => {
    const head = `<tr><td class="mono">${e(l.name)}</td><td class="mono">${e(l.host)}:${e(l.port)}</td><td>${l.tls ? badge('TLS', 'ok') : badge('plain', 'info')}</td>`;
    if (l.connections.length === 0) return [`${head}<td colspan="4" class="note">no connection</td></tr>`];
    return l.connections.map((c, i) => `${i === 0 ? head : '<tr><td></td><td></td><td></td>'}<td class="mono">${e(c.id)}</td><td class="mono">${e(c.remote)}</td>`
      + `<td>${e(localTime(c.since))}</td><td class="num">${e(c.messages)}</td></tr>`);
  });
  const live = listeners.reduce((n, l) => n + l.connections.length, 0);
  return `<section id="listeners"><h2>MLLP listeners<span class="count">${e(live)} connection(s)</span></h2>
<table><thead><tr><th>Listener</th><th>Address</th><th>Transport</th><th>Connection</th><th>Peer</th><th>Since</th><th>Messages</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></section>`;
}

export function renderStatusPage(data: PageData, health: Health, opts: { showIdentities: boolean; store: string; now: Date; refreshSeconds?: number; listeners?: readonly ListenerView[] }): string {
  const lock = data.status.lock;
  const subtitle = `${e(opts.store)} · ${e(localTime(opts.now.toISOString()))}${lock ? ` · writer: <span class="mono">${e(lock.owner)}</span>` : ''}`;
  const right = health.ok ? badge('healthy', 'ok') : badge(`late: ${health.late.join(', ')}`, 'bad');
  const body = [sourcesSection(data, health), listenersSection(opts.listeners ?? []), inboxSection(data), quarantineSection(data), messagesSection(data, opts.showIdentities), lookupSection(opts.showIdentities)].join('\n');
  return layout('pamdrop status', body, { refreshSeconds: opts.refreshSeconds ?? 30, headerRight: right, subtitle });
}

/** `/patient` with identities hidden: says so, and nothing about whether the identifier exists. */
export function renderIdentitiesHidden(): string {
  return layout('pamdrop · patient lookup', `<section id="hidden"><h2>Identities hidden</h2>
<p>This status page does not show patient identities: <span class="mono">showIdentities</span> is off in the configuration.
The lookup was not run, so this page does not tell whether the identifier is known.</p>
<p class="note">On the server, <span class="mono">pamdrop patient &lt;identifier&gt;</span> shows a record. To allow lookups here, set
<span class="mono">"showIdentities": true</span> and restart <span class="mono">pamdrop watch</span>.</p>
<p><a href="/">Back to the status page</a></p></section>`);
}

function patientCard(p: PatientView): string {
  const rows: Array<[string, string]> = [
    ['Identifiers', p.identifiers.map((i) => e(formatIdentifier(i))).join('<br>') || '—'],
    ['INS', p.ins ? `${e(p.ins.kind)} <span class="mono">${e(p.ins.value)}</span>` : '—'],
    ['Identity status', `${e(p.status ?? '—')}${p.qualified ? ` ${badge('qualified', 'ok')}` : ''}${p.attributes.length ? ` <span class="note">${e(p.attributes.join(', '))}</span>` : ''}`],
    ['Birth name', e(formatValue(p.birthName))],
    ['First name', e(formatValue(p.firstName))],
    ['Birth given names', e(formatValue(p.birthGivenNames))],
    ['Used name', e(formatValue(p.usedName))],
    ['Birth date', e(formatValue(p.birthDate))],
    ['Sex', e(formatValue(p.sex))],
    ['Birth place', e(formatValue(p.birthPlace))],
    ['Record', p.active ? badge('active', 'ok') : `${badge('merged', 'warn')} into ${e(formatIdentifier(p.mergedInto))}`],
    ['Last message', e(messageTime(p.lastMessageTime))],
    ['History entries', e(p.history.length)],
  ];
  return `<section class="patient"><h2>Record ${e(p.id)}</h2><dl>${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl></section>`;
}

/** `/patient?id=…` with identities shown. */
export function renderPatientPage(value: string, found: readonly PatientView[]): string {
  const head = lookupSection(true, value);
  const body = found.length === 0
    ? `<section id="not-found"><h2>Not found</h2><p>No record has the identifier or INS <span class="mono">${e(value)}</span>.</p></section>`
    : found.map(patientCard).join('\n');
  return layout('pamdrop · patient lookup', `${head}\n${body}\n<p><a href="/">Back to the status page</a></p>`);
}

/** A short error page (404, 405, 400). */
export function renderError(title: string, text: string): string {
  return layout(`pamdrop · ${title}`, `<section><h2>${e(title)}</h2><p>${e(text)}</p><p><a href="/">Back to the status page</a></p></section>`);
}
