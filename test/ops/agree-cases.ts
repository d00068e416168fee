/**
 * The files on which the readers must agree with `import` (validate-agrees, readers-agree): every fixture of
 * test/fixtures/hl7, and messages whose reading fails early, each with one irregularity.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_DIR } from '../fixtures/make-fixtures.js';
import { A28_CREATE, A31_UPDATE } from '../fixtures/examples.js';

/** Refusals only the store can make (AE 204 unknown record, AE 205 identity collision): not the reader's. */
export const STORE_ONLY_CODES = new Set([204, 205]);

/** Undecodable bytes, an unreadable MSH, a reused MSH-10 in one file: [name, bytes]. */
export const EARLY_FAILURES: Array<[string, Buffer]> = [
  ['undecodable.hl7', Buffer.from(A28_CREATE.replace('|8859/15|', '|UNICODE UTF-8|').replace('CASANOVA', 'CASAN\xc3VA'), 'latin1')],
  ['unreadable-msh.hl7', Buffer.from(`MSH|\rEVN||20250312\r${A31_UPDATE}`, 'latin1')],
  ['reused-msh10.hl7', Buffer.from(A28_CREATE + A28_CREATE + A31_UPDATE.replace(/\|GAM000102\|/, '|GAM000101|') + A31_UPDATE.replace(/ADT\^A31\^ADT_A05/, 'ADT^A08^ADT_A01'), 'latin1')],
];

/** Every fixture, then `extra`: [name, bytes]. */
export function agreeCases(extra: ReadonlyArray<[string, Buffer]>): Array<[string, Buffer]> {
  const fixtures = readdirSync(FIXTURE_DIR).filter((n) => n.endsWith('.hl7')).sort()
    .map((n): [string, Buffer] => [n, readFileSync(join(FIXTURE_DIR, n))]);
  return [...fixtures, ...EARLY_FAILURES, ...extra];
}
