import { describe, it, expect } from 'vitest';
import { MllpDecoder, mllpFrame, type MllpItem } from '../../src/hl7/mllp.js';

const msg = (id: string) => Buffer.from(`MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312101500||ADT^A28^ADT_A05|${id}|P|2.5\rEVN||20250312101500\r`);

function feed(d: MllpDecoder, bytes: Buffer, chunk = bytes.length): MllpItem[] {
  const out: MllpItem[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...d.push(bytes.subarray(i, i + chunk)));
  return out;
}

describe('MLLP decoder', () => {
  it('yields each frame, whatever the chunking (one byte at a time included)', () => {
    const stream = Buffer.concat([mllpFrame(msg('A1')), Buffer.from('\n'), mllpFrame(msg('A2')), mllpFrame(msg('A3'))]);
    for (const chunk of [1, 2, 3, 7, stream.length]) {
      const items = feed(new MllpDecoder(1 << 20), stream, chunk);
      expect(items.map((i) => i.kind)).toEqual(['frame', 'frame', 'frame']);
      expect(items.map((i) => (i as { bytes: Buffer }).bytes.toString('latin1'))).toEqual(['A1', 'A2', 'A3'].map((id) => msg(id).toString('latin1')));
    }
  });

  it('a frame cut by the end of the stream is garbled, never a frame', () => {
    const d = new MllpDecoder(1 << 20);
    const whole = mllpFrame(msg('A1'));
    expect(d.push(whole.subarray(0, whole.length - 1))).toEqual([]);
    const end = d.end();
    expect(end).toHaveLength(1);
    expect(end[0]!.kind).toBe('garbled');
  });

  it('data without a start block is garbled and keeps its head (for the AR)', () => {
    const d = new MllpDecoder(1 << 20);
    const items = feed(d, Buffer.concat([msg('X1'), mllpFrame(msg('A2'))]));
    expect(items.map((i) => i.kind)).toEqual(['garbled', 'frame']);
    expect((items[0] as { head: Buffer }).head.toString('latin1')).toContain('|X1|');
  });

  it('an end block not followed by CR, and a start block inside a frame, are garbled; decoding goes on', () => {
    const bad1 = Buffer.concat([Buffer.from([0x0b]), msg('B1'), Buffer.from([0x1c, 0x41])]);
    const bad2 = Buffer.concat([Buffer.from([0x0b]), msg('B2')]);
    const items = feed(new MllpDecoder(1 << 20), Buffer.concat([bad1, mllpFrame(msg('A1')), bad2, mllpFrame(msg('A2'))]));
    expect(items.map((i) => i.kind)).toEqual(['garbled', 'frame', 'garbled', 'frame']);
    expect((items[0] as { head: Buffer }).head.toString('latin1')).toContain('|B1|');
    expect((items[2] as { head: Buffer }).head.toString('latin1')).toContain('|B2|');
    expect((items[3] as { bytes: Buffer }).bytes.toString('latin1')).toContain('|A2|');
  });

  it('a frame over the limit is oversize, its head kept; nothing more is decoded', () => {
    const big = Buffer.concat([msg('BIG'), Buffer.alloc(5000, 0x41)]);
    const d = new MllpDecoder(4096);
    const items = feed(d, Buffer.concat([mllpFrame(big), mllpFrame(msg('A2'))]), 1000);
    expect(items.map((i) => i.kind)).toEqual(['oversize']);
    expect((items[0] as { head: Buffer }).head.toString('latin1')).toContain('|BIG|');
    expect(d.dead).toBe(true);
  });

  it('a frame of exactly the limit is a frame', () => {
    const m = Buffer.concat([msg('E'), Buffer.alloc(100, 0x41)]);
    const items = feed(new MllpDecoder(m.length), mllpFrame(m), 5);
    expect(items.map((i) => i.kind)).toEqual(['frame']);
  });
});
