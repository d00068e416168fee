/**
 * Frames a file, streaming it in 256 KiB chunks: for the benchmarks and the tests. Kept out of src/hl7, which reads
 * no files (the importer streams through pipeline/). It returns frameStream's own generator, so no `yield*`
 * delegation adds promise turns per item.
 */
import { createReadStream } from 'node:fs';
import { FILE_CHUNK_BYTES, frameStream, type FrameItem, type FrameOptions } from '../src/hl7/batch.js';

export function frameFile(path: string, opts?: FrameOptions): AsyncGenerator<FrameItem> {
  return frameStream(createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES }) as AsyncIterable<Buffer>, opts);
}
