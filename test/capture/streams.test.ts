/**
 * Input plumbing: gzip recognised by content, stdin ('-') and child-process pipes, chunk
 * sizes that split records anywhere, a record larger than the chunk, early stop, and the
 * CaptureError cases for input that is not (or no longer) a capture.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaptureError,
  PcapWriter,
  PcapngWriter,
  readCapture,
  readCaptureBuffer,
  readCaptureStream,
  type CaptureWarning,
} from '../../src/decode/capture/index.js';
import type { Frame } from '../../src/decode/frame.js';
import { hasCommand, need } from '../helpers/env.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-capture-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function packet(i: number): Buffer {
  const b = Buffer.alloc(40 + (i % 300));
  b.writeUInt32BE(i, 0);
  b.fill(i & 0xff, 4);
  return b;
}

const N = 2000;
function pcapBytes(): Buffer {
  const w = new PcapWriter();
  for (let i = 0; i < N; i++) w.write(packet(i), 1_700_000_000 + Math.floor(i / 10), (i % 10) * 100_000_000 + i);
  return w.toBuffer();
}

function summaryOfFrames(): { seen: string[]; onFrame: (f: Frame) => void } {
  const seen: string[] = [];
  return { seen, onFrame: (f) => void seen.push(`${f.frame}:${f.tsSec}.${f.tsNsec}:${f.buf.readUInt32BE(f.off)}:${f.caplen}`) };
}

function expected(): string[] {
  return Array.from({ length: N }, (_, i) => `${i + 1}:${1_700_000_000 + Math.floor(i / 10)}.${(i % 10) * 100_000_000 + i}:${i}:${40 + (i % 300)}`);
}

describe('gzip by content', () => {
  const plain = pcapBytes();

  it('a gzip\'d pcap named .bin is read from a path', async () => {
    const file = path.join(tmp, 'capture.bin');
    writeFileSync(file, gzipSync(plain));
    const r = summaryOfFrames();
    const s = await readCapture(file, r.onFrame, { chunkSize: 4096 });
    expect(s.gzip).toBe(true);
    expect(s.bytes).toBe(plain.length);
    expect(r.seen).toEqual(expected());
  });

  it('a gzip\'d pcapng from memory', () => {
    const w = new PcapngWriter();
    w.addInterface({ name: 'vip0' });
    w.write(0, Buffer.from('hello'), 7, 8, { comment: 'c' });
    const seen: string[] = [];
    const s = readCaptureBuffer(gzipSync(w.toBuffer()), 'x.gz', (f) => void seen.push(`${f.comment}:${f.buf.toString('utf8', f.off, f.off + f.caplen)}`));
    expect(s).toMatchObject({ gzip: true, format: 'pcapng', frames: 1 });
    expect(seen).toEqual(['c:hello']);
  });

  it.skipIf(!need(hasCommand('gzip'), 'gzip not installed'))('a file compressed by the gzip tool (name without .gz)', async () => {
    const file = path.join(tmp, 'plain.pcap');
    writeFileSync(file, plain);
    const gz = spawnSync('gzip', ['-c', '-9', file]);
    expect(gz.status).toBe(0);
    writeFileSync(path.join(tmp, 'zipped.cap'), gz.stdout);
    const r = summaryOfFrames();
    const s = await readCapture(path.join(tmp, 'zipped.cap'), r.onFrame);
    expect(s.gzip).toBe(true);
    expect(r.seen).toEqual(expected());
  });

  it('a cut gzip stream: frames up to the cut, one truncated-file warning, no throw', async () => {
    const gz = gzipSync(plain);
    const cut = gz.subarray(0, Math.floor(gz.length / 2));
    const file = path.join(tmp, 'cut.bin');
    writeFileSync(file, cut);
    for (const read of [
      async (onFrame: (f: Frame) => void, onWarning: (w: CaptureWarning) => void) => readCapture(file, onFrame, { onWarning }),
      async (onFrame: (f: Frame) => void, onWarning: (w: CaptureWarning) => void) => readCaptureBuffer(cut, file, onFrame, { onWarning }),
    ]) {
      const r = summaryOfFrames();
      const warnings: CaptureWarning[] = [];
      const s = await read(r.onFrame, (w) => void warnings.push(w));
      expect(s.truncated).toBe(true);
      expect(warnings.length).toBe(1);
      expect(warnings[0]!.code).toBe('capture.truncated-file');
      expect(r.seen.length).toBeGreaterThan(100);
      expect(r.seen.length).toBeLessThan(N);
      expect(r.seen).toEqual(expected().slice(0, r.seen.length));
    }
  });

  it('a cut gzip stream yields every byte before the cut, whatever the chunk sizes, and the same warning', async () => {
    const gz = gzipSync(plain);
    for (const keep of [0.3, 0.6, 0.97]) {
      const cut = gz.subarray(0, Math.floor(gz.length * keep));
      const file = path.join(tmp, `cut-${keep}.bin`);
      writeFileSync(file, cut);
      const ref = summaryOfFrames();
      const refWarnings: CaptureWarning[] = [];
      readCaptureBuffer(cut, file, ref.onFrame, { onWarning: (w) => void refWarnings.push(w) });
      expect(refWarnings).toHaveLength(1);
      expect(refWarnings[0]!.message).toMatch(/^gzip stream ends early/);
      for (const chunkSize of [16, 1000, 4096, 65536, 1 << 20]) {
        const r = summaryOfFrames();
        const warnings: CaptureWarning[] = [];
        await readCapture(file, r.onFrame, { onWarning: (w) => void warnings.push(w), chunkSize });
        expect(r.seen, `keep ${keep} chunk ${chunkSize}`).toEqual(ref.seen);
        expect(warnings, `keep ${keep} chunk ${chunkSize}`).toEqual(refWarnings);
        // The same bytes arriving in pieces of another size through a stream.
        const s = summaryOfFrames();
        const streamed: CaptureWarning[] = [];
        const pieces = Array.from({ length: Math.ceil(cut.length / chunkSize) }, (_, i) => Buffer.from(cut.subarray(i * chunkSize, (i + 1) * chunkSize)));
        await readCaptureStream(pieces, file, s.onFrame, { onWarning: (w) => void streamed.push(w), chunkSize: 4096 });
        expect(s.seen).toEqual(ref.seen);
        expect(streamed).toEqual(refWarnings);
      }
    }
  });

  it('corrupt gzip data is a CaptureError', async () => {
    const gz = gzipSync(plain);
    gz.fill(0x55, 100, 200);
    await expect(readCaptureStream([gz], 'bad.gz', () => {})).rejects.toBeInstanceOf(CaptureError);
    expect(() => readCaptureBuffer(gz, 'bad.gz', () => {})).toThrow(CaptureError);
  });
});

describe('stdin and pipes', () => {
  const plain = pcapBytes();
  const file = path.join(tmp, 'pipe.pcap');
  writeFileSync(file, plain);
  writeFileSync(`${file}.gz`, gzipSync(plain));

  it("'-' reads process.stdin (fed from a child process's stdout)", async () => {
    const child = spawn('cat', [file]);
    const feed = new PassThrough();
    child.stdout.pipe(feed);
    const original = Object.getOwnPropertyDescriptor(process, 'stdin')!;
    Object.defineProperty(process, 'stdin', { configurable: true, get: () => feed });
    try {
      const r = summaryOfFrames();
      const s = await readCapture('-', r.onFrame);
      expect(s.gzip).toBe(false);
      expect(r.seen).toEqual(expected());
    } finally {
      Object.defineProperty(process, 'stdin', original);
    }
  });

  it('a gzip stream piped from a child process', async () => {
    const child = spawn('cat', [`${file}.gz`]);
    const r = summaryOfFrames();
    const s = await readCaptureStream(child.stdout, '-', r.onFrame);
    expect(s.gzip).toBe(true);
    expect(r.seen).toEqual(expected());
  });

  const dist = path.resolve(import.meta.dirname, '../../dist/decode/capture/index.js');
  it.skipIf(!need(existsSync(dist), 'dist/ not built (npm test builds it)'))('a real stdin: a child node process reads a pipe with readCapture("-")', () => {
    const script = `import('${dist}').then(async (m) => { let n = 0; const s = await m.readCapture('-', () => { n++; }); console.log(n, s.gzip); })`;
    const r = spawnSync('sh', ['-c', `cat "${file}.gz" | node -e "${script}"`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${N} true`);
  });
});

describe('chunking', () => {
  const plain = pcapBytes();
  const file = path.join(tmp, 'chunks.pcap');
  writeFileSync(file, plain);

  it.each([16, 33, 1000, 4096, 1 << 20])('chunkSize %i: same frames as a whole-buffer read', async (chunkSize) => {
    const r = summaryOfFrames();
    const s = await readCapture(file, r.onFrame, { chunkSize });
    expect(r.seen).toEqual(expected());
    expect(s.bytes).toBe(plain.length);
  });

  it('a record larger than the chunk (and the initial carry) is reassembled', async () => {
    const w = new PcapWriter({ snaplen: 8 << 20 });
    const big = Buffer.alloc(5 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    w.write(Buffer.from('small'), 1, 0);
    w.write(big, 2, 0);
    w.write(Buffer.from('after'), 3, 0);
    const f = path.join(tmp, 'big.pcap');
    writeFileSync(f, w.toBuffer());
    const got: Buffer[] = [];
    await readCapture(f, (fr) => void got.push(Buffer.from(fr.buf.subarray(fr.off, fr.off + fr.caplen))), { chunkSize: 65536 });
    expect(got.length).toBe(3);
    expect(got[1]!.equals(big)).toBe(true);
    expect(got[2]!.toString()).toBe('after');
  });

  it('a last block announcing 200 MiB in a short file is a truncation, read quickly in small chunks', async () => {
    const w = new PcapngWriter();
    w.addInterface({ name: 'a' });
    w.write(0, Buffer.from('ok'), 1, 0);
    const tail = Buffer.alloc(4096);
    tail.writeUInt32LE(6, 0);
    tail.writeUInt32LE(200 << 20, 4);
    const b = Buffer.concat([w.toBuffer(), tail]);
    const warnings: CaptureWarning[] = [];
    const chunks = Array.from({ length: Math.ceil(b.length / 100) }, (_, i) => b.subarray(i * 100, i * 100 + 100));
    const rss = process.memoryUsage.rss();
    const s = await readCaptureStream(chunks, 'claims.pcapng', () => {}, { onWarning: (x) => void warnings.push(x) });
    expect(process.memoryUsage.rss() - rss).toBeLessThan(50 << 20);
    expect(s.frames).toBe(1);
    expect(warnings.map((x) => [x.code, x.offset])).toEqual([['capture.truncated-file', b.length - 4096]]);
  });

  it("the consumer's own exception propagates unchanged (not turned into a CaptureError)", async () => {
    class Boom extends Error {}
    const cb = (f: Frame): void => {
      if (f.frame === 5) throw new Boom('consumer failed');
    };
    await expect(readCapture(file, cb, { chunkSize: 1000 })).rejects.toBeInstanceOf(Boom);
    await expect(readCaptureStream([plain.subarray(0, 5000), plain.subarray(5000)], 's', cb)).rejects.toBeInstanceOf(Boom);
    await expect(readCaptureStream([gzipSync(plain)], 's', cb)).rejects.toBeInstanceOf(Boom);
    expect(() => readCaptureBuffer(plain, 'b', cb)).toThrow(Boom);
  });

  it('returning false stops the read', async () => {
    let n = 0;
    const s = await readCapture(file, () => ++n < 10, { chunkSize: 1000 });
    expect(n).toBe(10);
    expect(s.frames).toBe(10);
    expect(s.truncated).toBe(false);
  });
});

describe('input that is not a capture', () => {
  function err(b: Buffer): CaptureError {
    try {
      readCaptureBuffer(b, 'in.pcap', () => {});
    } catch (e) {
      expect(e).toBeInstanceOf(CaptureError);
      return e as CaptureError;
    }
    throw new Error('expected a CaptureError');
  }

  it('empty file, garbage, text: not a pcap or pcapng file at offset 0', () => {
    expect(err(Buffer.alloc(0)).message).toBe('in.pcap: offset 0: not a pcap or pcapng file (empty file)');
    expect(err(Buffer.from('GET / HTTP/1.1\r\n\r\n')).message).toBe('in.pcap: offset 0: not a pcap or pcapng file (magic 0x47455420)');
    expect(err(Buffer.from([1, 2])).offset).toBe(0);
  });

  it('a missing file is a CaptureError naming it', async () => {
    await expect(readCapture(path.join(tmp, 'nope.pcap'), () => {})).rejects.toThrow(/nope\.pcap: offset 0: cannot open/);
  });

  it('a record header with an absurd length: CaptureError at that record', () => {
    const b = pcapBytes().subarray(0, 24 + 16 + 40 + 200);
    const rec2 = 24 + 16 + 40;
    b.writeUInt32LE(0x7fffffff, rec2 + 8);
    const e = err(b);
    expect(e.offset).toBe(rec2);
    expect(e.detail).toMatch(/captured length/);
  });

  function ng(): { buf: Buffer; epb: number } {
    const w = new PcapngWriter();
    w.addInterface({ name: 'a' });
    w.write(0, Buffer.from('abcd'), 1, 2);
    w.write(0, Buffer.from('efgh'), 1, 3);
    const buf = w.toBuffer();
    return { buf, epb: buf.length - 2 * 36 };
  }

  it('pcapng: bad block length, trailer mismatch, interface out of range, caplen beyond block', () => {
    let { buf, epb } = ng();
    buf.writeUInt32LE(35, epb + 4);
    expect(err(buf)).toMatchObject({ offset: epb });
    ({ buf, epb } = ng());
    buf.writeUInt32LE(40, epb + 32);
    expect(err(buf).detail).toMatch(/trailing length/);
    ({ buf, epb } = ng());
    buf.writeUInt32LE(3, epb + 8);
    expect(err(buf).detail).toMatch(/interface 3/);
    ({ buf, epb } = ng());
    buf.writeUInt32LE(9, epb + 20);
    expect(err(buf)).toMatchObject({ offset: epb });
    ({ buf } = ng());
    buf.writeUInt32LE(0x11223344, 8);
    expect(err(buf).detail).toMatch(/byte-order magic/);
  });
});
