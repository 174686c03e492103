/**
 * verify reads a capture through decode's reader (decode/capture/reader.ts CaptureReader), so a
 * plain, gzip'd, pcapng, cut or corrupt file reads the same in both: the same frames, the same
 * one capture.truncated-file warning (code, offset and words) for a file or gzip stream cut
 * short, the same CaptureError for gzip data that is corrupt. Checked by reading each file with
 * PointReader (verify's pull-based reader) and with readCapture (decode's), at the default chunk
 * size and at small ones that cut records across chunks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureError, readCapture, type CaptureWarning } from '../../src/decode/capture/index.js';
import { PcapngWriter, PcapWriter } from '../../src/decode/capture/writer.js';
import { PointReader, type ReaderOptions } from '../../src/verify/read/stream.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'verify-read-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Ethernet + IPv4 + TCP from 198.51.100.`host`:`port` to 192.0.2.10:80, with `pad` payload bytes. */
function segment(host: number, port: number, seq: number, pad: number): Buffer {
  const b = Buffer.alloc(14 + 20 + 20 + pad);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(40 + pad, 16);
  b[22] = 64;
  b[23] = 6;
  Buffer.from([198, 51, 100, host]).copy(b, 26);
  Buffer.from([192, 0, 2, 10]).copy(b, 30);
  b.writeUInt16BE(port, 34);
  b.writeUInt16BE(80, 36);
  b.writeUInt32BE(seq, 38);
  b[46] = 0x50;
  b[47] = 0x18;
  return b;
}

/** Enough packets that the file spans several of the reader's default chunks. */
const PACKETS = 16_000;

function pcapBytes(): Buffer {
  const w = new PcapWriter({ linkType: 1 });
  for (let i = 0; i < PACKETS; i++) w.write(segment(1 + (i % 200), 1024 + (i % 5000), i, i % 97), 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1000);
  return w.toBuffer();
}

function pcapngBytes(): Buffer {
  const w = new PcapngWriter();
  w.addInterface({ name: 'eth0' });
  w.addInterface({ name: 'eth1' });
  for (let i = 0; i < PACKETS; i++) w.write(i % 2, segment(1 + (i % 200), 1024 + (i % 5000), i, i % 61), 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1000);
  return w.toBuffer();
}

function file(name: string, bytes: Buffer): string {
  const f = path.join(tmp, name);
  writeFileSync(f, bytes);
  return f;
}

interface Read {
  /** Frame number of every record the reader extracted, in order. */
  frames: number[];
  /** Frames the reader saw (PointReader.frames; readCapture's summary). */
  seen: number;
  truncated: boolean;
  warnings: CaptureWarning[];
}

async function viaVerify(f: string, chunkSize?: number): Promise<Read> {
  const warnings: CaptureWarning[] = [];
  const opts: ReaderOptions = { offsetNs: 0, onWarning: (w) => void warnings.push(w), ...(chunkSize !== undefined ? { chunkSize } : {}) };
  const reader = new PointReader(f, 0, opts);
  const frames: number[] = [];
  for (;;) {
    if (!reader.hasQueued()) await reader.fill();
    const r = reader.shift();
    if (r === undefined) break;
    frames.push(r.frame);
  }
  return { frames, seen: reader.frames, truncated: reader.truncated, warnings };
}

async function viaDecode(f: string, chunkSize?: number): Promise<Read> {
  const warnings: CaptureWarning[] = [];
  const frames: number[] = [];
  const s = await readCapture(f, (fr) => void frames.push(fr.frame), { onWarning: (w) => void warnings.push(w), ...(chunkSize !== undefined ? { chunkSize } : {}) });
  return { frames, seen: s.frames, truncated: s.truncated, warnings };
}

const plain = pcapBytes();
const ng = pcapngBytes();
const cases: Array<[string, Buffer]> = [
  ['plain pcap', plain],
  ['gzip pcap', gzipSync(plain)],
  ['pcapng', ng],
  ['gzip pcapng', gzipSync(ng)],
];

describe('verify reads captures as decode does', () => {
  it.each(cases)('%s: every frame, in order, at any chunk size', async (name, bytes) => {
    const f = file(`${name.replace(/ /g, '-')}.cap`, bytes);
    const decoded = await viaDecode(f);
    expect(decoded.seen).toBe(PACKETS);
    expect(decoded.warnings).toEqual([]);
    for (const chunk of [undefined, 4096, 1000]) {
      const v = await viaVerify(f, chunk);
      expect(v.seen, `chunk ${chunk}`).toBe(PACKETS);
      expect(v.frames, `chunk ${chunk}`).toEqual(decoded.frames);
      expect(v.warnings).toEqual([]);
      expect(v.truncated).toBe(false);
    }
  });

  it.each([
    ['a plain file cut inside a record', (b: Buffer) => b.subarray(0, b.length - 37)],
    ['a gzip stream cut short', (b: Buffer) => gzipSync(b).subarray(0, Math.floor(gzipSync(b).length * 0.6))],
    ['a gzip stream cut just before its trailer', (b: Buffer) => gzipSync(b).subarray(0, gzipSync(b).length - 8)],
  ])('%s: the frames before the cut and one identical truncated-file warning', async (_name, cut) => {
    for (const [kind, bytes] of [['pcap', plain], ['pcapng', ng]] as const) {
      const f = file(`cut-${kind}.cap`, cut(bytes));
      const decoded = await viaDecode(f);
      expect(decoded.truncated, kind).toBe(true);
      expect(decoded.warnings).toHaveLength(1);
      expect(decoded.warnings[0]!.code).toBe('capture.truncated-file');
      expect(decoded.seen).toBeGreaterThan(0);
      for (const chunk of [undefined, 4096]) {
        const v = await viaVerify(f, chunk);
        expect(v.truncated, `${kind} chunk ${chunk}`).toBe(true);
        expect(v.warnings, `${kind} chunk ${chunk}`).toEqual(decoded.warnings);
        expect(v.seen).toBe(decoded.seen);
        expect(v.frames).toEqual(decoded.frames);
      }
    }
  });

  it('corrupt gzip data is the same CaptureError in both, not a cut', async () => {
    const gz = gzipSync(plain);
    gz.fill(0x55, 2000, 2100);
    const f = file('corrupt.gz', gz);
    const decodeError = await viaDecode(f).then(
      () => null,
      (e: unknown) => e,
    );
    expect(decodeError).toBeInstanceOf(CaptureError);
    expect((decodeError as CaptureError).message).toMatch(/gzip: /);
    const verifyError = await viaVerify(f).then(
      () => null,
      (e: unknown) => e,
    );
    expect(verifyError).toBeInstanceOf(CaptureError);
    expect((verifyError as CaptureError).message).toBe((decodeError as CaptureError).message);
  });

  it('a file that cannot be opened is a CaptureError naming it', async () => {
    const missing = path.join(tmp, 'missing.pcap');
    await expect(viaVerify(missing)).rejects.toThrow(CaptureError);
    await expect(viaVerify(missing)).rejects.toThrow(/missing\.pcap: offset 0: cannot open/);
  });
});
