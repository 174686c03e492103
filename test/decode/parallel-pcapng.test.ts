/**
 * Parallel `decode --summary` over pcapng files (src/decode/parallel/pcapng-range.ts): over any
 * split the merged summary must equal the serial one; a guessed block start inside a payload,
 * a second section or an interface declared after the first packet must send the file down
 * the serial path.
 *
 * Oracle: the ordinary serial reader (forEachPacket → DecodeSummary), which the parallel path
 * does not use, plus the packet counts the generators wrote. Files are written by the
 * project's PcapngWriter (plain EPB files, two-section files by concatenating two of them) and
 * by a small block builder below for what PcapngWriter cannot write (SPB, NRB, ISB, custom
 * blocks, if_tsresol other than 9, if_tsoffset, several link types, EPB options). The parallel
 * code runs worker threads from dist/, so dist/ is rebuilt when older than the sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSame, loadSummaryPaths, type Outcome, type SummaryPaths } from '../helpers/parallel-summary.js';
import { PcapngWriter } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { CM, SM, mixedFrames, rng } from '../helpers/mixed-frames.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const corpus = path.resolve(repoRoot, '..', 'shared', 'corpus', 'pcapng-test-generator');
const need = (cond: boolean, reason: string): boolean => {
  if (!cond && process.env.CI === 'true') throw new Error(reason);
  if (!cond) console.log(`skipped: ${reason}`);
  return cond;
};

let paths: SummaryPaths;
let dir: string;


beforeAll(async () => {
  paths = await loadSummaryPaths(['decode/capture/pcapng.ts']);
  dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-parallel-ng-'));
}, 120_000);

afterAll(() => {
  if (dir && !process.env.LVSAUDIT_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
});

// ---------- capture generation ----------


const pad4 = (n: number): number => (n + 3) & ~3;

/** Raw pcapng blocks in one byte order; `off` is where the next block goes. */
class Blocks {
  readonly parts: Buffer[] = [];
  off = 0;
  /** Offsets of every packet block, in order. */
  readonly packets: number[] = [];
  constructor(readonly le: boolean) {}

  private u32(b: Buffer, p: number, v: number): void {
    if (this.le) b.writeUInt32LE(v >>> 0, p);
    else b.writeUInt32BE(v >>> 0, p);
  }
  private u16(b: Buffer, p: number, v: number): void {
    if (this.le) b.writeUInt16LE(v, p);
    else b.writeUInt16BE(v, p);
  }
  /** One option (code, value) padded to 4 bytes. */
  opt(code: number, value: Buffer): Buffer {
    const b = Buffer.alloc(4 + pad4(value.length));
    this.u16(b, 0, code);
    this.u16(b, 2, value.length);
    value.copy(b, 4);
    return b;
  }
  u32buf(v: number): Buffer {
    const b = Buffer.alloc(4);
    this.u32(b, 0, v);
    return b;
  }
  /** Options followed by opt_endofopt (none at all when `opts` is empty). */
  options(opts: Buffer[]): Buffer {
    return opts.length === 0 ? Buffer.alloc(0) : Buffer.concat([...opts, Buffer.alloc(4)]);
  }
  block(type: number, body: Buffer): number {
    const len = 12 + pad4(body.length);
    const b = Buffer.alloc(len);
    this.u32(b, 0, type);
    this.u32(b, 4, len);
    body.copy(b, 8);
    this.u32(b, len - 4, len);
    this.parts.push(b);
    const at = this.off;
    this.off += len;
    return at;
  }
  shb(): number {
    const body = Buffer.alloc(16);
    this.u32(body, 0, 0x1a2b3c4d);
    this.u16(body, 4, 1);
    body.writeInt32LE(-1, 8);
    body.writeInt32LE(-1, 12);
    return this.block(0x0a0d0d0a, body);
  }
  idb(linkType: number, snaplen: number, tsresol: number | null, tsoffset = 0): number {
    const head = Buffer.alloc(8);
    this.u16(head, 0, linkType);
    this.u32(head, 4, snaplen);
    const opts = [this.opt(2, Buffer.from(`if${this.off}`))];
    if (tsresol !== null) opts.push(this.opt(9, Buffer.from([tsresol])));
    if (tsoffset !== 0) {
      const v = Buffer.alloc(8);
      if (this.le) v.writeBigInt64LE(BigInt(tsoffset));
      else v.writeBigInt64BE(BigInt(tsoffset));
      opts.push(this.opt(14, v));
    }
    return this.block(1, Buffer.concat([head, this.options(opts)]));
  }
  epb(iface: number, ts: bigint, data: Buffer, origLen: number, opts: Buffer[] = []): number {
    const head = Buffer.alloc(20);
    this.u32(head, 0, iface);
    this.u32(head, 4, Number(ts >> 32n));
    this.u32(head, 8, Number(ts & 0xffffffffn));
    this.u32(head, 12, data.length);
    this.u32(head, 16, origLen);
    const at = this.block(6, Buffer.concat([head, data, Buffer.alloc(pad4(data.length) - data.length), this.options(opts)]));
    this.packets.push(at);
    return at;
  }
  spb(data: Buffer, origLen: number): number {
    const at = this.block(3, Buffer.concat([this.u32buf(origLen), data]));
    this.packets.push(at);
    return at;
  }
  nrb(): number {
    const rec = Buffer.alloc(4 + 12);
    this.u16(rec, 0, 1);
    this.u16(rec, 2, 12);
    Buffer.from([10, 0, 0, 1]).copy(rec, 4);
    Buffer.from('host-a\0\0').copy(rec, 8);
    return this.block(4, Buffer.concat([rec, Buffer.alloc(4)]));
  }
  isb(iface: number): number {
    const b = Buffer.alloc(12);
    this.u32(b, 0, iface);
    return this.block(5, Buffer.concat([b, this.options([this.opt(4, Buffer.alloc(8, 1))])]));
  }
  custom(type: number): number {
    return this.block(type, Buffer.concat([this.u32buf(32473), Buffer.from('custom data, not a packet')]));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A fake chain of `count` EPBs on interface 0 (plausible in every field), `lead` junk bytes first. */
function fakeEpbs(le: boolean, count: number, body: number, lead: number): Buffer {
  const f = new Blocks(le);
  for (let i = 0; i < count; i++) f.epb(0, 1_700_000_000_000_000n + BigInt(i), Buffer.alloc(body, 0x5a), body);
  return Buffer.concat([Buffer.alloc(lead, 0xee), f.toBuffer()]);
}

interface Made {
  file: string;
  packets: number;
  /** Offsets of every packet block. */
  offsets: number[];
  /** Where the fake EPB chains inside payloads begin. */
  fakes: number[];
}

/**
 * A rich pcapng file: SHB, four interfaces (Ethernet µs, raw IP ns, Linux SLL with binary
 * 2^-20 resolution and a ts offset, Ethernet snaplen 80), EPBs on all with options (comments,
 * flags, hashes), SPBs, and NRB/ISB/custom/DSB-less blocks in the middle. `fakeEvery` > 0
 * puts a chain of fake EPBs into every fakeEvery-th UDP payload, aligned to 4 bytes in the file.
 */
function makeRich(name: string, le: boolean, n: number, seed: number, fakeEvery = 0): Made {
  const b = new Blocks(le);
  b.shb();
  b.idb(1, 262144, 6);
  b.idb(101, 65535, 9);
  b.idb(113, 262144, 0x94, 1000);
  b.idb(1, 80, null);
  b.nrb();
  const tpl = mixedFrames(1);
  const r = rng(seed);
  const fakes: number[] = [];
  let ts = 1_700_000_000n * 1_000_000n;
  for (let i = 0; i < n; i++) {
    ts += BigInt(1 + Math.floor(r() * 5000));
    const frame = tpl[Math.floor(r() * tpl.length)]!;
    if (fakeEvery > 0 && i % fakeEvery === fakeEvery - 1) {
      // EPB header 28 + eth 14 + ipv4 20 + udp 8 = 70 bytes before the payload; 2 junk bytes align the chain.
      const fake = fakeEpbs(le, 12, 20 + 4 * Math.floor(r() * 10), 2);
      const f = PacketBuilder.eth({ src: CM, dst: SM }).ipv4({ src: '10.3.3.3', dst: '10.4.4.4' }).udp({ sport: 9, dport: 9 }).payload(fake).build();
      const at = b.epb(0, ts, f, f.length);
      fakes.push(at + 72);
      continue;
    }
    const kind = Math.floor(r() * 10);
    if (kind === 0) b.spb(frame, frame.length);
    else if (kind === 1) b.epb(1, ts * 1000n, frame.subarray(14), frame.length - 14, [b.opt(1, Buffer.from('comment ' + i))]);
    else if (kind === 2) {
      // Linux SLL: packet type, ARPHRD_ETHER, address length 6, address, protocol; then the network layer.
      const sll = Buffer.alloc(16);
      sll.writeUInt16BE(0, 0);
      sll.writeUInt16BE(1, 2);
      sll.writeUInt16BE(6, 4);
      frame.copy(sll, 6, 6, 12);
      frame.copy(sll, 14, 12, 14);
      const data = Buffer.concat([sll, frame.subarray(14)]);
      b.epb(2, (ts << 20n) / 1_000_000n, data, data.length, [b.opt(2, b.u32buf(1))]);
    } else if (kind === 3) b.epb(3, ts, frame.subarray(0, 80), frame.length, [b.opt(2, b.u32buf(2)), b.opt(3, Buffer.alloc(17, 3))]);
    else if (kind === 4 && i % 7 === 0) {
      b.isb(i % 4);
      b.custom(i % 2 === 0 ? 0xbad : 0x40000bad);
      b.nrb();
      b.epb(0, ts, frame, frame.length);
    } else b.epb(0, ts, frame, frame.length);
  }
  b.isb(0);
  const file = path.join(dir, name);
  writeFileSync(file, b.toBuffer());
  return { file, packets: n, offsets: b.packets, fakes };
}

// ---------- the two paths ----------

const serial = (file: string): Promise<Outcome> => paths.serial(file);
const parallel = (file: string, o: { threads?: number; splits?: number[] }): ReturnType<SummaryPaths['parallel']> => paths.parallel(file, o);

// ---------- tests ----------

describe('parallel pcapng decode --summary equals the serial summary', () => {
  it.each([
    ['little-endian', true],
    ['big-endian', false],
  ])('%s, four interfaces (link types, resolutions, ts offset), options, SPB/NRB/ISB/custom blocks: 2, 3, 4 ranges', async (_n, le) => {
    const m = makeRich(`rich-${le}.pcapng`, le, 12000, le ? 7 : 8);
    expect(statSync(m.file).size).toBeGreaterThan(2_000_000);
    const want = await serial(m.file);
    expect(want.counts.frames).toBe(m.packets);
    expect(want.warnings).toStrictEqual([]);
    // The file exercises what it claims: several link layers, cut frames, bad checksums, malformed headers.
    expect(want.text).toMatch(/sll/i);
    expect(Object.keys(want.report.truncated).length).toBeGreaterThan(0);
    expect(want.report.badChecksum.tcp).toBeGreaterThan(0);
    expect(Object.keys(want.report.malformed).length).toBeGreaterThan(0);
    for (const threads of [2, 3, 4]) {
      const got = await parallel(m.file, { threads });
      expect(got.parallel, `${threads} ranges: ${got.reason}`).toBe(true);
      expectSame(got, want, `${threads} ranges`);
    }
  });

  it('a PcapngWriter file (both byte orders) splits and merges to the serial counts', async () => {
    for (const bigEndian of [false, true]) {
      const file = path.join(dir, `writer-${bigEndian}.pcapng`);
      const w = new PcapngWriter({ path: file, bigEndian });
      const a = w.addInterface({ name: 'eth0' });
      const c = w.addInterface({ name: 'eth1', snaplen: 96 });
      const tpl = mixedFrames(1);
      const r = rng(3);
      for (let i = 0; i < 8000; i++) {
        const f = tpl[Math.floor(r() * tpl.length)]!;
        w.write(i % 3 === 0 ? c : a, f, 1_790_000_000 + (i >> 10), (i * 7919) % 1e9, i % 5 === 0 ? { comment: `n${i}`, direction: 'in' } : {});
      }
      w.close();
      const want = await serial(file);
      expect(want.counts.frames).toBe(8000);
      const got = await parallel(file, { threads: 3 });
      expect(got.parallel, got.reason ?? '').toBe(true);
      expectSame(got, want, `bigEndian ${bigEndian}`);
    }
  });

  it.each([
    ['inside the last block header', 6],
    ['inside the last block body', 40],
  ])('a file cut %s: the same single truncation warning as serially', async (_n, into) => {
    const m = makeRich(`cut-${into}.pcapng`, true, 6000, 11);
    // Cut inside the last packet block (an ISB follows it in the full file).
    truncateSync(m.file, m.offsets[m.offsets.length - 1]! + into);
    const want = await serial(m.file);
    expect(want.warnings).toHaveLength(1);
    expect(want.warnings[0]!.message).toMatch(/capture ends inside a record/);
    expect(want.counts.frames).toBe(m.packets - 1);
    const size = statSync(m.file).size;
    const last = m.offsets[m.offsets.length - 1]!;
    const tries = [{ threads: 2 }, { threads: 3 }, { splits: [size - 2] }];
    // A split right at the cut block: found when its 12-byte header is there to check.
    if (into >= 12) tries.push({ splits: [last] });
    for (const o of tries) {
      const got = await parallel(m.file, o);
      expect(got.parallel, `${JSON.stringify(o)}: ${got.reason}`).toBe(true);
      expectSame(got, want, JSON.stringify(o));
    }
    if (into < 12) {
      // Fewer than 12 bytes of a block cannot be told from the tail of a cut block: the scan
      // claims the end of the file, range 0 stopped at the cut block, and the file goes serial.
      const got = await parallel(m.file, { splits: [last] });
      expect(got.parallel).toBe(false);
      expect(got.reason).toBe(`range 1 started at offset ${size}, but range 0 stopped at ${last}`);
    }
  });

  it('the CLI prints identical text serially and over 3 threads (also with a FILTER)', () => {
    const m = makeRich('cli.pcapng', false, 8000, 5);
    truncateSync(m.file, statSync(m.file).size - 7);
    const cli = (threads: string, ...args: string[]): { out: string; err: string } => {
      const env = { ...process.env, LVSAUDIT_THREADS: threads, LVSAUDIT_PARALLEL_MIN_BYTES: '0', LVSAUDIT_PARALLEL_DEBUG: '1' };
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/lvsaudit.js'), 'decode', '--summary', ...args, m.file], { env, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return { out: r.stdout, err: r.stderr };
    };
    const one = cli('1');
    const three = cli('3');
    expect(three.err).toMatch(/parallel: .*3 ranges merged/);
    expect(three.out).toBe(one.out);
    const warn = (e: string): string[] => e.split('\n').filter((l) => l.startsWith('lvsaudit: warning:'));
    expect(warn(one.err)).toHaveLength(1);
    expect(warn(three.err)).toStrictEqual(warn(one.err));
    const f1 = cli('1', '--filter', 'udp or arp');
    const f3 = cli('3', '--filter', 'udp or arp');
    expect(f3.err).toMatch(/3 ranges merged/);
    expect(f3.out).toBe(f1.out);
  });
});

describe('what the split cannot handle goes serial (asserted through the outcome reason)', () => {
  it('payloads holding chains of fake EPBs: a split on one is rejected; on the true block after it, merged', async () => {
    for (const le of [true, false]) {
      const m = makeRich(`fake-${le}.pcapng`, le, 3000, 5, 40);
      expect(m.fakes.length).toBeGreaterThan(10);
      const want = await serial(m.file);
      expect(want.counts.frames).toBe(m.packets);
      const at = m.fakes[Math.floor(m.fakes.length / 2)]!;
      const got = await parallel(m.file, { splits: [at] });
      expect(got.parallel).toBe(false);
      // Range 1 either fails walking out of the fake chain or starts where range 0 did not stop.
      expect(got.reason).toMatch(/^range 1: |range 1 started at offset \d+, but range 0 stopped at \d+/);
      expect(got.counts.frames).toBe(0);
      const next = m.offsets.find((o) => o > at)!;
      const ok = await parallel(m.file, { splits: [next] });
      expect(ok.parallel, ok.reason ?? '').toBe(true);
      expectSame(ok, want, 'split on the true block');
    }
  });

  it('a second section (two PcapngWriter files concatenated): serial, wherever the split', async () => {
    const parts = [false, true].map((bigEndian) => {
      const w = new PcapngWriter({ bigEndian });
      w.addInterface({ name: 'x', linkType: 1 });
      const tpl = mixedFrames(1);
      for (let i = 0; i < 3000; i++) w.write(0, tpl[i % tpl.length]!, 1_790_000_000, i);
      return w.toBuffer();
    });
    const file = path.join(dir, 'two-sections.pcapng');
    writeFileSync(file, Buffer.concat(parts));
    const want = await serial(file);
    expect(want.counts.frames).toBe(6000);
    const second = parts[0]!.length;
    for (const splits of [[second - 1000], [second + 1000], [Math.floor(second / 2), second + 500]]) {
      const got = await parallel(file, { splits });
      expect(got.parallel, JSON.stringify(splits)).toBe(false);
      expect(got.reason).toMatch(/SHB at offset \d+ after the first packet block|range \d+ started at offset/);
      expect(got.counts.frames).toBe(0);
    }
    // A range that walks over the second SHB names it.
    const r = await parallel(file, { splits: [second - 1000] });
    expect(r.reason).toBe(`range 1: SHB at offset ${second} after the first packet block`);
  });

  it('a second section in the same byte order whose interface 0 is raw IP: range 0 meets its SHB, serial', async () => {
    // Range 1 starts inside section 2 and would read its EPBs with section 1's interface 0
    // (Ethernet) without complaint; only range 0's refusal of the SHB keeps the answer right.
    const tpl = mixedFrames(1);
    const w1 = new PcapngWriter();
    w1.addInterface({ name: 'eth', linkType: 1 });
    for (let i = 0; i < 3000; i++) w1.write(0, tpl[i % tpl.length]!, 1_790_000_000, i);
    const w2 = new PcapngWriter();
    w2.addInterface({ name: 'raw', linkType: 101 });
    for (let i = 0; i < 3000; i++) w2.write(0, tpl[i % tpl.length]!.subarray(14), 1_790_000_000, i);
    const parts = [w1.toBuffer(), w2.toBuffer()];
    const file = path.join(dir, 'two-sections-same-order.pcapng');
    writeFileSync(file, Buffer.concat(parts));
    const want = await serial(file);
    expect(want.counts.frames).toBe(6000);
    const second = parts[0]!.length;
    const got = await parallel(file, { splits: [second + 4000] });
    expect(got.parallel).toBe(false);
    expect(got.reason).toBe(`range 0: SHB at offset ${second} after the first packet block`);
  });

  it('an IDB after the first packet block: serial, whichever range meets it', async () => {
    const b = new Blocks(true);
    b.shb();
    b.idb(1, 262144, 9);
    const tpl = mixedFrames(1);
    for (let i = 0; i < 2000; i++) b.epb(0, BigInt(i), tpl[i % tpl.length]!, tpl[i % tpl.length]!.length);
    const late = b.idb(101, 262144, 6);
    for (let i = 0; i < 2000; i++) b.epb(i % 2, BigInt(i), tpl[i % tpl.length]!, tpl[i % tpl.length]!.length);
    const file = path.join(dir, 'late-idb.pcapng');
    writeFileSync(file, b.toBuffer());
    const want = await serial(file);
    expect(want.counts.frames).toBe(4000);
    const before = await parallel(file, { splits: [late - 3000] });
    expect(before.reason).toBe(`range 1: IDB at offset ${late} after the first packet block`);
    const after = await parallel(file, { splits: [late + 3000] });
    expect(after.reason).toBe(`range 0: IDB at offset ${late} after the first packet block`);
    expect(after.parallel || before.parallel).toBe(false);
  });

  it('an IDB after other blocks but before the first packet is fine (the prefix holds it)', async () => {
    const b = new Blocks(false);
    b.shb();
    b.idb(1, 262144, 9);
    b.nrb();
    b.custom(0xbad);
    b.idb(101, 262144, 6);
    const tpl = mixedFrames(1);
    for (let i = 0; i < 3000; i++) b.epb(i % 2, BigInt(i) * 1000n, i % 2 === 0 ? tpl[i % tpl.length]! : tpl[i % tpl.length]!.subarray(14), 200);
    const file = path.join(dir, 'prefix.pcapng');
    writeFileSync(file, b.toBuffer());
    const want = await serial(file);
    const got = await parallel(file, { threads: 3 });
    expect(got.parallel, got.reason ?? '').toBe(true);
    expectSame(got, want, 'prefix with two IDBs');
  });
});

describe('property: any split of a pcapng file gives the serial result', () => {
  it('random split offsets and range counts', async () => {
    const files = [makeRich('prop-le.pcapng', true, 2500, 21), makeRich('prop-be.pcapng', false, 2500, 22), makeRich('prop-fake.pcapng', true, 2500, 23, 5)];
    const wants = await Promise.all(files.map((f) => serial(f.file)));
    let merged = 0;
    let discarded = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1, 2), fc.array(fc.integer({ min: 0, max: 2 ** 30 }), { minLength: 1, maxLength: 3 }), async (which, raw) => {
        const f = files[which]!;
        const size = statSync(f.file).size;
        // Any offset after the first packet block's start (the prefix is never split), the last byte included.
        const first = f.offsets[0]!;
        const splits = raw.map((x) => first + 1 + (x % (size - first - 1)));
        const got = await parallel(f.file, { splits });
        if (got.parallel) {
          merged++;
          expectSame(got, wants[which]!, `splits ${splits.join(',')}`);
        } else {
          discarded++;
          expect(got.counts.frames).toBe(0);
          // Without fake blocks in the payloads every split after the prefix is found and accepted.
          expect(which, got.reason ?? '').toBe(2);
        }
      }),
      { numRuns: 24, seed: 20261127 },
    );
    expect(merged).toBeGreaterThan(5);
    expect(discarded).toBeGreaterThan(0);
  }, 60_000);
});

describe('pcapng-test-generator corpus: forced splits give the serial result', () => {
  const have = existsSync(corpus);
  it.skipIf(!need(have, `corpus absent at ${corpus}`))('every output_le/ and output_be/ file, 2–4 ranges and odd split points', async () => {
    const files: string[] = [];
    for (const order of ['output_le', 'output_be']) {
      for (const cat of readdirSync(path.join(corpus, order))) {
        for (const f of readdirSync(path.join(corpus, order, cat))) if (f.endsWith('.pcapng')) files.push(path.join(corpus, order, cat, f));
      }
    }
    expect(files.length).toBeGreaterThanOrEqual(40);
    let merged = 0;
    let declined = 0;
    for (const file of files) {
      let want: Outcome | null = null;
      let err: string | null = null;
      try {
        want = await serial(file);
      } catch (e) {
        err = e instanceof Error ? e.message : String(e);
      }
      const size = statSync(file).size;
      const tries: Array<{ threads?: number; splits?: number[] }> = [{ threads: 2 }, { threads: 3 }, { threads: 4 }, { splits: [Math.floor(size / 3) + 1, size - 5] }];
      for (const o of tries) {
        const got = await parallel(file, o);
        const what = `${path.relative(corpus, file)} ${JSON.stringify(o)}: ${got.reason}`;
        if (err !== null) {
          // The serial reader rejects the file: the parallel path must not have answered.
          expect(got.parallel, what).toBe(false);
          continue;
        }
        if (got.parallel) {
          merged++;
          expectSame(got, want!, what);
        } else {
          declined++;
          expect(got.counts.frames, what).toBe(0);
        }
      }
    }
    console.log(`pcapng corpus: ${files.length} files, ${merged} merged splits, ${declined} declined`);
    expect(merged).toBeGreaterThan(10);
  }, 120_000);
});
