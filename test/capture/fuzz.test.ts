/**
 * Property tests: random bytes and random mutations of valid captures either yield
 * frames/warnings or a CaptureError — never another exception, never a hang — and a read
 * streamed in random chunk sizes gives exactly the same outcome as a whole-buffer read.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureError, PcapWriter, PcapngWriter, readCaptureBuffer, readCaptureStream } from '../../src/decode/capture/index.js';
import { hasShared, sharedDir } from '../helpers/env.js';

interface Outcome {
  frames: string[];
  warnings: string[];
  error: string | null;
}

function viaBuffer(b: Buffer): Outcome {
  const o: Outcome = { frames: [], warnings: [], error: null };
  try {
    readCaptureBuffer(b, 'fuzz', (f) => {
      // Every frame must lie inside its buffer and have a sane timestamp.
      if (f.off < 0 || f.off + f.caplen > f.buf.length) throw new Error(`frame outside buffer: ${f.off}+${f.caplen} > ${f.buf.length}`);
      if (!(f.tsNsec >= 0 && f.tsNsec < 1e9)) throw new Error(`tsNsec ${f.tsNsec}`);
      o.frames.push(`${f.fileOffset}:${f.tsSec}.${f.tsNsec}:${f.len}:${f.buf.toString('hex', f.off, f.off + f.caplen)}:${f.interfaceId}:${f.direction}:${f.comment}`);
    }, { onWarning: (w) => void o.warnings.push(`${w.code}@${w.offset}`) });
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    o.error = e.message;
  }
  return o;
}

async function viaChunks(b: Buffer, sizes: number[]): Promise<Outcome> {
  const o: Outcome = { frames: [], warnings: [], error: null };
  const chunks: Buffer[] = [];
  for (let p = 0, i = 0; p < b.length; i++) {
    const n = sizes[i % sizes.length]!;
    chunks.push(Buffer.from(b.subarray(p, p + n)));
    p += n;
  }
  try {
    await readCaptureStream(chunks, 'fuzz', (f) => {
      o.frames.push(`${f.fileOffset}:${f.tsSec}.${f.tsNsec}:${f.len}:${f.buf.toString('hex', f.off, f.off + f.caplen)}:${f.interfaceId}:${f.direction}:${f.comment}`);
    }, { onWarning: (w) => void o.warnings.push(`${w.code}@${w.offset}`) });
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    o.error = e.message;
  }
  return o;
}

function seeds(): Buffer[] {
  const out: Buffer[] = [];
  const w = new PcapWriter({ linkType: 1 });
  for (let i = 0; i < 4; i++) w.write(Buffer.alloc(20 + i * 7, i), 1000 + i, i * 250_000_000);
  out.push(w.toBuffer());
  const wus = new PcapWriter({ resolution: 'us', bigEndian: true, snaplen: 64 });
  for (let i = 0; i < 4; i++) wus.write(Buffer.alloc(30 + i, 0x40 + i), 2000 + i, i * 1000);
  out.push(wus.toBuffer());
  const ng = new PcapngWriter({ bigEndian: true });
  ng.addInterface({ name: 'eth0' });
  ng.addInterface({ name: 'any', linkType: 113, snaplen: 40 });
  for (let i = 0; i < 4; i++) ng.write(i % 2, Buffer.alloc(25 + i * 9, i), 3000 + i, i, { comment: i === 2 ? 'note' : undefined, direction: i % 2 ? 'out' : 'in' });
  out.push(ng.toBuffer());
  if (hasShared) {
    // Small corpus files with SPB, NRB, ISB, custom blocks, several sections and byte orders.
    const gen = path.join(sharedDir, 'corpus', 'pcapng-test-generator');
    for (const f of ['output_le/difficult/test202.pcapng', 'output_be/advanced/test102.pcapng', 'output_le/basic/test012.pcapng']) {
      out.push(readFileSync(path.join(gen, f)));
    }
  }
  return out;
}

const base = seeds();

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'u32'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 9 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 9 }) }),
  // Length fields are where parsers die: overwrite 4 aligned bytes with interesting values.
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 4, 11, 12, 13, 16, 28, 0x7fffffff, 0xffffffff, 0x0a0d0d0a, 0x1a2b3c4d) }),
);

function mutate(src: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'set':
        b[at] = m.value;
        break;
      case 'cut':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
      case 'u32': {
        const p = at & ~3;
        if (p + 4 <= b.length) b.writeUInt32LE(m.value >>> 0, p);
        break;
      }
    }
  }
  return b;
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 5 });

describe('capture reader fuzzing', () => {
  it('random bytes (with and without a valid magic): frames/warnings or CaptureError; chunked == whole', async () => {
    const magic = fc.constantFrom([], [0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0x3c, 0x4d], [0x0a, 0x0d, 0x0d, 0x0a], [0x1f, 0x8b]);
    await fc.assert(
      fc.asyncProperty(magic, fc.uint8Array({ maxLength: 300 }), chunkSizes, async (m, rest, sizes) => {
        const b = Buffer.concat([Buffer.from(m), Buffer.from(rest)]);
        const whole = viaBuffer(b);
        expect(whole.frames.length).toBeLessThanOrEqual(Math.floor(b.length / 12));
        expect(whole.warnings.filter((w) => w.startsWith('capture.truncated-file')).length).toBeLessThanOrEqual(1);
        // gzip input is decompressed differently in the two paths; compare only plain input.
        if (m.length !== 2) expect(await viaChunks(b, sizes)).toEqual(whole);
      }),
      { numRuns: 600 },
    );
  });

  it('mutated valid captures: frames/warnings or CaptureError; chunked == whole', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: base.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), chunkSizes, async (i, ms, sizes) => {
        const b = mutate(base[i]!, ms);
        const whole = viaBuffer(b);
        expect(whole.warnings.filter((w) => w.startsWith('capture.truncated-file')).length).toBeLessThanOrEqual(1);
        expect(await viaChunks(b, sizes)).toEqual(whole);
      }),
      { numRuns: 1500 },
    );
  });

  it('unmutated seeds read cleanly (the fuzz starts from valid files)', () => {
    for (const b of base) {
      const o = viaBuffer(b);
      expect(o.error).toBeNull();
      expect(o.warnings).toEqual([]);
      expect(o.frames.length).toBeGreaterThan(0);
    }
  });
});
