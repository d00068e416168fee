/**
 * Helpers for the table-driven PAM tests: build one irregularity into a §8 example
 * (test/fixtures/examples.ts), interpret it.
 * The edit helpers throw when the edit cannot be made, so a mistyped row fails instead of testing the original.
 */
import { expect } from 'vitest';
import { Hl7Message } from '../../src/hl7/model.js';
import { interpret } from '../../src/pam/interpret.js';
import { defaultPamOptions, type PamCommand, type PamOptions, type Interpretation } from '../../src/pam/types.js';
import type { Finding } from '../../src/hl7/errors.js';

/** Replaces the single occurrence of `from` by `to`. */
export function edit(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) throw new Error(`edit: "${from}" must occur exactly once`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}

/**
 * Sets field n of the `occurrence`-th segment `seg` (ER7 numbering: for MSH, field 1 is the separator) to the raw
 * value, padding with empty fields when needed.
 */
export function setField(text: string, seg: string, n: number, value: string, occurrence = 1): string {
  const lines = text.split('\r');
  let seen = 0;
  const idx = lines.findIndex((l) => l.startsWith(`${seg}|`) && ++seen === occurrence);
  if (idx < 0) throw new Error(`setField: no ${seg}(${occurrence})`);
  const parts = lines[idx]!.split('|');
  const pos = seg === 'MSH' ? n - 1 : n;
  while (parts.length <= pos) parts.push('');
  parts[pos] = value;
  lines[idx] = parts.join('|');
  return lines.join('\r');
}

/** Removes every segment named `seg`. */
export function dropSegment(text: string, seg: string): string {
  const out = text.split('\r').filter((l) => !l.startsWith(`${seg}|`)).join('\r');
  if (out === text) throw new Error(`dropSegment: no ${seg}`);
  return out;
}

/** Inserts a segment line after the last segment named `after`. */
export function addSegment(text: string, after: string, line: string): string {
  const lines = text.split('\r');
  let idx = -1;
  lines.forEach((l, i) => { if (l.startsWith(`${after}|`)) idx = i; });
  if (idx < 0) throw new Error(`addSegment: no ${after}`);
  lines.splice(idx + 1, 0, line);
  return lines.join('\r');
}

/** The options of the §8 examples (test INS authority). */
export function opts(overrides: Partial<PamOptions> = {}): PamOptions {
  return { ...defaultPamOptions(), acceptTestIns: true, ...overrides };
}

export function run(text: string, overrides: Partial<PamOptions> = {}): Interpretation {
  return interpret(Hl7Message.parse(text), opts(overrides));
}

/** Interprets and returns the command; fails the test with the findings when the message is not accepted. */
export function command(text: string, overrides: Partial<PamOptions> = {}): PamCommand {
  const r = run(text, overrides);
  if (!r.ok) throw new Error(`expected a command, got ${r.ack}: ${JSON.stringify(r.findings)}`);
  return r.command;
}

/** Interprets and returns the rejection; fails the test when the message was accepted. */
export function rejection(text: string, overrides: Partial<PamOptions> = {}): { ack: 'AE' | 'AR'; findings: Finding[] } {
  const r = run(text, overrides);
  if (r.ok) throw new Error(`expected a rejection, got ${r.command.kind}`);
  return { ack: r.ack, findings: r.findings };
}

/** Code, severity and location of findings (the text is checked separately). */
export function where(findings: readonly Finding[]): Array<Pick<Finding, 'code' | 'severity' | 'location'>> {
  return findings.map(({ code, severity, location }) => ({ code, severity, location }));
}

/** Asserts that no finding text carries any of the given patient values. */
export function expectNoPatientData(findings: readonly Finding[], values: readonly string[]): void {
  for (const f of findings) for (const v of values) expect(f.text).not.toContain(v);
}
