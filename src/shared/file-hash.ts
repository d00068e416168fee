/** SHA-256 of a file's bytes (hex), read as a stream: the ledger's `files.sha256` of a file on disk. */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';

export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
