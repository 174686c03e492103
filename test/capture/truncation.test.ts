/**
 * A capture cut at every byte offset (tcpdump killed mid-write) must give all complete
 * frames, then exactly one capture.truncated-file warning at the cut record's offset, and
 * throw only (CaptureError) when the file header itself is damaged. Read both from one
 * buffer and streamed in 5-byte chunks, so records split across chunks are covered too.
 */
import { describe, expect, it } from 'vitest';
import {
  CaptureError,
  PcapWriter,
  PcapngWriter,
  readCaptureBuffer,
  readCaptureStream,
  type CaptureSummary,
  type CaptureWarning,
} from '../../src/decode/capture/index.js';

const payloads = [Buffer.from('first packet....'), Buffer.alloc(61, 0xab), Buffer.from('3rd')];

function pcapFile(): Buffer {
  const w = new PcapWriter({ linkType: 1 });
  payloads.forEach((p, i) => w.write(p, 1_700_000_000 + i, 111 * (i + 1)));
  return w.toBuffer();
}

function pcapngFile(): Buffer {
  const w = new PcapngWriter();
  w.addInterface({ name: 'eth0' });
  w.addInterface({ name: 'eth1', linkType: 101 });
  payloads.forEach((p, i) => w.write(i % 2, p, 1_700_000_000 + i, 111 * (i + 1), { comment: i === 1 ? 'x' : undefined, direction: 'in' }));
  return w.toBuffer();
}

/**
 * Record boundaries found by walking the length fields (the test's own minimal walk,
 * independent of the reader): [start, end, isPacket].
 */
function pcapRecords(b: Buffer): Array<[number, number, boolean]> {
  const out: Array<[number, number, boolean]> = [[0, 24, false]];
  for (let p = 24; p < b.length; ) {
    const end = p + 16 + b.readUInt32LE(p + 8);
    out.push([p, end, true]);
    p = end;
  }
  return out;
}

function pcapngRecords(b: Buffer): Array<[number, number, boolean]> {
  const out: Array<[number, number, boolean]> = [];
  for (let p = 0; p < b.length; ) {
    const end = p + b.readUInt32LE(p + 4);
    out.push([p, end, b.readUInt32LE(p) === 6]);
    p = end;
  }
  return out;
}

interface Outcome {
  frames: Array<{ data: string; tsSec: number; tsNsec: number; fileOffset: number }>;
  warnings: CaptureWarning[];
  summary: CaptureSummary | null;
  error: unknown;
}

function collect(): { out: Outcome; onFrame: (f: import('../../src/decode/frame.js').Frame) => void; onWarning: (w: CaptureWarning) => void } {
  const out: Outcome = { frames: [], warnings: [], summary: null, error: null };
  return {
    out,
    onFrame: (f) => void out.frames.push({ data: f.buf.toString('hex', f.off, f.off + f.caplen), tsSec: f.tsSec, tsNsec: f.tsNsec, fileOffset: f.fileOffset }),
    onWarning: (w) => void out.warnings.push(w),
  };
}

function readWhole(b: Buffer): Outcome {
  const c = collect();
  try {
    c.out.summary = readCaptureBuffer(b, 'cut', c.onFrame, { onWarning: c.onWarning });
  } catch (e) {
    c.out.error = e;
  }
  return c.out;
}

async function readChunked(b: Buffer, size: number): Promise<Outcome> {
  const c = collect();
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let p = 0; p < b.length; p += size) yield Buffer.from(b.subarray(p, p + size));
  }
  try {
    c.out.summary = await readCaptureStream(chunks(), 'cut', c.onFrame, { onWarning: c.onWarning });
  } catch (e) {
    c.out.error = e;
  }
  return c.out;
}

function check(o: Outcome, cut: number, records: Array<[number, number, boolean]>, full: Buffer): void {
  const header = records[0]!;
  if (cut < header[1]) {
    // Header-level damage: a CaptureError at offset 0, nothing delivered.
    expect(o.error, `cut ${cut}`).toBeInstanceOf(CaptureError);
    expect((o.error as CaptureError).offset).toBe(0);
    expect((o.error as CaptureError).message).toMatch(cut === 0 ? /not a pcap or pcapng file \(empty file\)/ : cut < 4 ? /not a pcap or pcapng file/ : /truncated/);
    expect(o.frames).toEqual([]);
    return;
  }
  expect(o.error, `cut ${cut}: ${String(o.error)}`).toBeNull();
  const complete = records.filter((r) => r[1] <= cut);
  const packets = complete.filter((r) => r[2]);
  expect(o.frames.length, `cut ${cut}`).toBe(packets.length);
  o.frames.forEach((f, i) => {
    expect(f.data).toBe(payloads[i]!.toString('hex'));
    expect([f.tsSec, f.tsNsec]).toEqual([1_700_000_000 + i, 111 * (i + 1)]);
    expect(f.fileOffset).toBe(packets[i]![0]);
  });
  const cutRecord = records.find((r) => r[0] < cut && cut < r[1]);
  if (cutRecord === undefined) {
    expect(o.warnings, `cut ${cut}`).toEqual([]);
    expect(o.summary!.truncated).toBe(false);
  } else {
    expect(o.warnings.length, `cut ${cut}`).toBe(1);
    expect(o.warnings[0]!.code).toBe('capture.truncated-file');
    expect(o.warnings[0]!.offset).toBe(cutRecord[0]);
    expect(o.summary!.truncated).toBe(true);
  }
  expect(o.summary!.bytes).toBe(cut);
  expect(full.length).toBeGreaterThan(cut - 1);
}

describe.each([
  ['pcap', pcapFile, pcapRecords],
  ['pcapng', pcapngFile, pcapngRecords],
])('%s cut at every byte offset', (_name, make, walk) => {
  const full = make();
  const records = walk(full);

  it('the test file has a header and 3 packets', () => {
    expect(records.filter((r) => r[2]).length).toBe(3);
    expect(records[records.length - 1]![1]).toBe(full.length);
  });

  it('whole-buffer reads: complete frames, then one warning; CaptureError only for header damage', () => {
    for (let cut = 0; cut <= full.length; cut++) check(readWhole(full.subarray(0, cut)), cut, records, full);
  });

  it('streamed in 5-byte chunks: same outcome', async () => {
    for (let cut = 0; cut <= full.length; cut++) check(await readChunked(full.subarray(0, cut), 5), cut, records, full);
  });
});
