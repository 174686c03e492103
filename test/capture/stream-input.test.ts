/**
 * StreamInput (src/decode/capture/stream-input.ts): an input read once from its source and
 * opened as often as pass 1 asks. Properties over any chunking and any sequence of partial
 * readings: every opening sees the input from its first byte; the source is read once; after
 * lastPass the last reading gets every byte and lets the kept ones go. Also the registration
 * by path that CaptureReader.open consults, and the usage errors for a stream given twice.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureReader, MAX_KEPT_HEAD, PcapWriter, StreamInput, keepStreamHeads, oneShotInputs, registerStreamInput } from '../../src/decode/capture/index.js';
import { InputError } from '../../src/errors.js';

/** A source that counts how often each chunk was taken from it. */
function countingSource(chunks: readonly Buffer[]): { source: AsyncIterable<Buffer>; pulls: () => number } {
  let pulled = 0;
  async function* gen(): AsyncGenerator<Buffer> {
    for (const c of chunks) {
      pulled++;
      yield c;
    }
  }
  return { source: gen(), pulls: () => pulled };
}

/** Reads up to `limit` bytes of an opening, then stops it (a pass-1 sample that has enough). */
async function readSome(s: StreamInput, limit: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let n = 0;
  for await (const b of s.bytes()) {
    got.push(b);
    n += b.length;
    if (n >= limit) break;
  }
  return Buffer.concat(got);
}

const chunking = fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 0, maxLength: 30 }).map((xs) => xs.map((x) => Buffer.from(x)));

describe('StreamInput', () => {
  it('every opening starts at the first byte; the source is read once; the last pass gets it all and keeps nothing', async () => {
    await fc.assert(
      fc.asyncProperty(chunking, fc.array(fc.nat(2000), { maxLength: 5 }), async (chunks, samples) => {
        const whole = Buffer.concat(chunks);
        const { source, pulls } = countingSource(chunks);
        const s = new StreamInput('-', source);
        for (const limit of samples) {
          const head = await readSome(s, limit);
          // A sample reads whole chunks: at least `limit` bytes (or all), and always a prefix.
          expect(head.length).toBeGreaterThanOrEqual(Math.min(limit, whole.length));
          expect(whole.subarray(0, head.length).equals(head)).toBe(true);
          expect(s.keptSize).toBeGreaterThanOrEqual(head.length);
        }
        const keptBefore = s.keptSize;
        s.lastPass();
        const all = await readSome(s, Infinity);
        expect(all.equals(whole)).toBe(true);
        expect(pulls()).toBe(chunks.length);
        expect(s.keptSize).toBe(0);
        expect(keptBefore).toBeLessThanOrEqual(whole.length);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps only the head a sample read, not the rest of the stream', async () => {
    const chunks = Array.from({ length: 100 }, (_, i) => Buffer.alloc(1000, i));
    const s = new StreamInput('-', countingSource(chunks).source);
    await readSome(s, 2500);
    expect(s.keptSize).toBe(3000);
    s.lastPass();
    let peak = 0;
    let total = 0;
    for await (const b of s.bytes()) {
      total += b.length;
      peak = Math.max(peak, s.keptSize);
    }
    expect(total).toBe(100_000);
    // The kept head is let go as the last pass reads it; the rest is never kept.
    expect(peak).toBeLessThanOrEqual(3000);
  });

  it('keeping more than MAX_KEPT_HEAD while sampling is an error naming the stream; the last pass keeps nothing and may read on', async () => {
    const mib = Buffer.alloc(1 << 20);
    const chunks = (n: number): AsyncIterable<Buffer> =>
      (async function* () {
        // One buffer yielded again and again: the test holds no real memory for the kept list.
        for (let i = 0; i < n; i++) yield mib;
      })();
    const over = (MAX_KEPT_HEAD >> 20) + 4;
    const sampled = new StreamInput('big.fifo', chunks(over));
    await expect(readSome(sampled, Infinity)).rejects.toThrow(`big.fifo: offset ${MAX_KEPT_HEAD}: the sample of pass 1 needs more than ${MAX_KEPT_HEAD >> 20} MiB of this stream kept`);
    const read = new StreamInput('big.fifo', chunks(over));
    read.lastPass();
    let total = 0;
    for await (const b of read.bytes()) total += b.length;
    expect(total).toBe(over << 20);
  });

  it('a source that fails fails every opening that reaches the failure, with the stream named', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('abc');
      throw new Error('EIO');
    }
    const s = new StreamInput('cap.fifo', broken());
    await expect(readSome(s, 2)).resolves.toEqual(Buffer.from('abc'));
    await expect(readSome(s, 10)).rejects.toThrow('cap.fifo: offset 3: read error: EIO');
    await expect(readSome(s, 10)).rejects.toThrow('read error: EIO');
  });
});

describe('registered inputs', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-stream-input-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('a second - or a FIFO given twice is a usage error; plain files may repeat', () => {
    const file = path.join(tmp, 'a.pcap');
    writeFileSync(file, Buffer.alloc(0));
    expect(oneShotInputs([file, file, '-'])).toEqual(['-']);
    expect(() => oneShotInputs(['-', file, '-'])).toThrow(InputError);
    expect(() => oneShotInputs(['-', '-'])).toThrow("'-' (standard input) is given twice");
  });

  it('CaptureReader.open reads a registered path from its kept head, as often as asked', async () => {
    const w = new PcapWriter();
    for (let i = 0; i < 50; i++) w.write(Buffer.alloc(60, i), 1_700_000_000, i);
    const bytes = w.toBuffer();
    const file = path.join(tmp, 'b.pcap');
    writeFileSync(file, bytes);
    // A regular file is not registered: nothing to keep.
    expect(keepStreamHeads([file]).size).toBe(0);
    const frames = async (limit: number): Promise<number[]> => {
      const seen: number[] = [];
      const r = await CaptureReader.open('-', (f) => {
        seen.push(f.buf[f.off]!);
        return seen.length < limit;
      }, { chunkSize: 256 });
      while (await r.next()) while (r.feed());
      await r.close();
      return seen;
    };
    // Standard input stands in: registered under '-' with a chunked source of the capture.
    const s = new StreamInput('-', (async function* () {
      for (let at = 0; at < bytes.length; at += 100) yield bytes.subarray(at, at + 100);
    })());
    const release = registerStreamInput(s);
    try {
      expect(await frames(5)).toEqual([0, 1, 2, 3, 4]);
      expect(await frames(20)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      s.lastPass();
      expect(await frames(Infinity)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(s.keptSize).toBe(0);
    } finally {
      release();
    }
  });
});
