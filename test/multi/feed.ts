/**
 * Test feed for the multi-instance suites: `count` small files from bench/generate.ts, each made independent of
 * the others (its own control ids, IPPs, episode numbers and NIRs), so that the end state of the store does not
 * depend on how the files were spread over instances — only on each file's own order, which one instance keeps.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFile, nirKey } from '../../bench/generate.js';

export interface FeedFile { name: string; bytes: Buffer; messages: number }

/**
 * `count` files named `<prefix(i)>_NNNN.hl7` of `messages` messages each (latin1 bytes). `stride`: the IPP range of
 * each file (100 is enough below ~30 messages a file; larger files need 1_000_000, the generator's whole range).
 */
export async function makeFeed(count: number, messages: number, prefix: (i: number) => string, stride = 100): Promise<FeedFile[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pamdrop-feed-'));
  const orderByStem = new Map<string, number>();
  const out: FeedFile[] = [];
  try {
    for (let k = 0; k < count; k++) {
      const p = join(dir, `${k}.hl7`);
      await generateFile(p, { messages, seed: 1000 + k, envelope: false });
      const nirs = new Map<string, string>();
      const text = readFileSync(p).toString('latin1')
        // MSH-10 unique across files.
        .replace(/\|G(\d{9})\|P\|/g, (_m, n: string) => `|K${String(k).padStart(4, '0')}G${n}|P|`)
        // IPPs and episode numbers (E + IPP): a range of `stride` per file (a file of a few messages uses < 30).
        .replace(/(E?)(\d{6})\^\^\^(CHEX|EPISODE)&/g, (_m, e: string, n: string, a: string) => `${e}${Number(n) + 1_000_000 + k * stride}^^^${a}&`)
        // NIRs: the order number (NIR digits 11–13) made unique per birth stem over the whole feed; key recomputed.
        .replace(/([0-9AB]{10})(\d{3})(\d{2})\^\^\^ASIP-SANTE-INS-NIR/g, (_m, stem: string, order: string) => {
          const key = `${stem}${order}`;
          let body = nirs.get(key);
          if (!body) {
            const next = (orderByStem.get(stem) ?? 0) + 1;
            orderByStem.set(stem, next);
            body = stem + String(next).padStart(3, '0');
            nirs.set(key, body);
          }
          return `${body}${nirKey(body)}^^^ASIP-SANTE-INS-NIR`;
        });
      out.push({ name: `${prefix(k)}_${String(k).padStart(4, '0')}.hl7`, bytes: Buffer.from(text, 'latin1'), messages: (text.match(/(^|\r)MSH\|/g) ?? []).length });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
