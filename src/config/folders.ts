/**
 * The folders a source writes to (ACKs, archive, quarantine) must lie outside its inbox, and the inbox outside them:
 * otherwise the importer takes its own ACK and reason files as input, for ever. Checked at the start of every command
 * that moves files (exit 2) and by `doctor` (FAIL).
 */
import { relative, resolve, isAbsolute } from 'node:path';
import type { SourceConfig } from './types.js';
import { ConfigError } from '../shared/errors.js';

/** True when `inner` is `outer` or lies inside it. */
function within(inner: string, outer: string): boolean {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const LABEL = { ackDir: 'ackDir', archiveDir: 'archiveDir', errorDir: 'errorDir' } as const;

/** What is wrong with a source's folders (empty when nothing). */
export function folderConflicts(src: Pick<SourceConfig, 'name' | 'inbox' | 'ackDir' | 'archiveDir' | 'errorDir'>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(LABEL) as Array<keyof typeof LABEL>) {
    const dir = src[k];
    if (resolve(dir) === resolve(src.inbox)) out.push(`source ${src.name}: ${LABEL[k]} ${dir} is the inbox: it would take its own output as input`);
    else if (within(dir, src.inbox)) out.push(`source ${src.name}: ${LABEL[k]} ${dir} is inside the inbox ${src.inbox}: it would take its own output as input`);
    else if (within(src.inbox, dir)) out.push(`source ${src.name}: the inbox ${src.inbox} is inside ${LABEL[k]} ${dir}`);
  }
  return out;
}

/** Throws ConfigError (exit 2) on the first folder conflict of `sources`. */
export function assertFolders(sources: ReadonlyArray<Pick<SourceConfig, 'name' | 'inbox' | 'ackDir' | 'archiveDir' | 'errorDir'>>): void {
  for (const s of sources) {
    const c = folderConflicts(s);
    if (c.length > 0) throw new ConfigError(`${c[0]}; give it a folder outside the inbox`);
  }
}
