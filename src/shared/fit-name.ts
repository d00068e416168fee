/**
 * Names pamdrop makes must fit NAME_MAX (255 bytes): a longer one would be refused by the file system
 * (ENAMETOOLONG) on every retry of the same file.
 */
import { createHash } from 'node:crypto';
import { extname } from 'node:path';

/** The first bytes of `s` (at most `max`, in UTF-8) without cutting a character. */
function headBytes(s: string, max: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    bytes += n;
    end += ch.length;
  }
  return s.slice(0, end);
}

/**
 * `name` when it fits in `max` bytes; otherwise its head, `~`, 12 hex digits of the SHA-256 of the whole name, and
 * `suffix` (kept so that ACK collectors matching `*.ack.hl7` still find the file). Deterministic: the same name
 * always gives the same short name, and two names differ after shortening unless they were equal.
 * @param suffix kept at the end when `name` ends with it (default: the extension, when short).
 */
export function fitName(name: string, max: number, suffix?: string): string {
  if (Buffer.byteLength(name) <= max) return name;
  const ext = suffix !== undefined ? (name.endsWith(suffix) ? suffix : '') : extname(name);
  const keep = ext.length <= 16 ? ext : '';
  const tag = `~${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;
  return headBytes(name.slice(0, name.length - keep.length), max - Buffer.byteLength(tag) - Buffer.byteLength(keep)) + tag + keep;
}
