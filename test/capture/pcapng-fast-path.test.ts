/**
 * The pcapng EPB fast path (PcapngFormat.parseRun) against an independent model: random files
 * of hand-assembled blocks (test/helpers/pcapng-blocks.ts; both byte orders, several
 * interfaces with decimal and binary resolutions and offsets, EPBs with options, other blocks
 * in between) fed in random chunk sizes must give every frame with the timestamp BigInt
 * arithmetic gives, the model's bytes, options and offsets, and the block counts in
 * first-seen order. Damaged EPBs after good ones must still fail exactly as the generic path
 * reports them (the fast path stops before them instead of judging them).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureError, CaptureParser, type CaptureWarning } from '../../src/decode/capture/index.js';
import type { Frame } from '../../src/decode/frame.js';
import { Blocks } from '../helpers/pcapng-blocks.js';

interface IfaceModel {
  binary: boolean;
  exp: number;
  offset: bigint;
}

type Item =
  | { kind: 'epb'; iface: number; ts: bigint; data: number[]; extra: number; comment: string | null; flags: number | null }
  | { kind: 'pb'; iface: number; ts: bigint; data: number[] }
  | { kind: 'nrb' }
  | { kind: 'unknown'; words: number };

interface Seen {
  interfaceId: number;
  tsSec: number;
  tsNsec: number;
  caplen: number;
  len: number;
  data: string;
  direction: string | null;
  comment: string | null;
  fileOffset: number;
}

const u64 = (max: bigint): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max });

const ifaceArb: fc.Arbitrary<IfaceModel> = fc.oneof(
  fc.record({ binary: fc.constant(false), exp: fc.integer({ min: 0, max: 9 }), offset: fc.bigInt({ min: -1000n, max: 1000n }) }),
  fc.record({ binary: fc.constant(true), exp: fc.integer({ min: 0, max: 30 }), offset: fc.constant(0n) }),
);

/** Timestamps that mostly share their high word (consecutive packets) and sometimes jump. */
const tsListArb = (n: number): fc.Arbitrary<bigint[]> =>
  fc.tuple(u64((1n << 63n) - 1n), fc.array(fc.oneof(fc.bigInt({ min: 0n, max: 5_000_000_000n }), u64((1n << 64n) - 1n).map((v) => -v - 1n)), { minLength: n, maxLength: n })).map(([base, steps]) => {
    const out: bigint[] = [];
    let t = base;
    for (const s of steps) {
      // A negative step stands for "jump to (−s − 1)": any 64-bit value, earlier or later.
      t = s < 0n ? -s - 1n : (t + s) & ((1n << 64n) - 1n);
      out.push(t);
    }
    return out;
  });

const itemsArb = (ifaces: number): fc.Arbitrary<Item[]> =>
  fc.integer({ min: 1, max: 30 }).chain((n) =>
    fc.tuple(
      tsListArb(n),
      fc.array(
        fc.record({
          kind: fc.constantFrom('epb', 'epb', 'epb', 'epb', 'pb', 'nrb', 'unknown'),
          iface: fc.integer({ min: 0, max: ifaces - 1 }),
          data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 45 }),
          extra: fc.integer({ min: 0, max: 20 }),
          comment: fc.option(fc.string({ maxLength: 9 }), { nil: null }),
          flags: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }),
          words: fc.integer({ min: 0, max: 3 }),
        }),
        { minLength: n, maxLength: n },
      ),
    ).map(([ts, raw]) =>
      raw.map((r, i): Item => {
        if (r.kind === 'epb') return { kind: 'epb', iface: r.iface, ts: ts[i]!, data: r.data, extra: r.extra, comment: r.comment, flags: r.flags };
        if (r.kind === 'pb') return { kind: 'pb', iface: r.iface, ts: ts[i]!, data: r.data };
        if (r.kind === 'nrb') return { kind: 'nrb' };
        return { kind: 'unknown', words: r.words };
      }),
    ),
  );

const SEC_LIMIT = 1n << 52n;

function unitsPerSec(i: IfaceModel): bigint {
  return i.binary ? 1n << BigInt(i.exp) : 10n ** BigInt(i.exp);
}

/** What BigInt arithmetic says a timestamp is (the reader's contract for every resolution). */
function expectedTime(ts: bigint, i: IfaceModel): [number, number] {
  const perSec = unitsPerSec(i);
  return [Number(ts / perSec + i.offset), Number(((ts % perSec) * 1_000_000_000n) / perSec)];
}

/** Assembles the file and the frames and block counts a correct reader reports. */
function assemble(be: boolean, ifaces: IfaceModel[], items: Item[]): { file: Buffer; frames: Seen[]; counts: [string, number][] } {
  const k = new Blocks(be);
  const frames: Seen[] = [];
  const counts = new Map<string, number>();
  const count = (name: string): void => void counts.set(name, (counts.get(name) ?? 0) + 1);
  k.shb();
  count('SHB');
  for (const i of ifaces) {
    const res = Buffer.from([(i.binary ? 0x80 : 0) | i.exp]);
    k.idb(1, 0, [k.opt(9, res), k.opt(14, k.i64(i.offset))]);
    count('IDB');
  }
  for (const it of items) {
    const at = k.bytes().length;
    if (it.kind === 'epb' || it.kind === 'pb') {
      const data = Buffer.from(it.data);
      // Seconds must stay below 2^53 (the reader's contract: a double holds them exactly).
      const ts = it.ts % (SEC_LIMIT * unitsPerSec(ifaces[it.iface]!));
      const [tsSec, tsNsec] = expectedTime(ts, ifaces[it.iface]!);
      const opts: Buffer[] = [];
      let comment: string | null = null;
      let direction: string | null = null;
      if (it.kind === 'epb') {
        if (it.comment !== null) {
          opts.push(k.opt(1, Buffer.from(it.comment)));
          comment = it.comment;
        }
        if (it.flags !== null) {
          opts.push(k.flags(it.flags));
          direction = it.flags === 1 ? 'in' : it.flags === 2 ? 'out' : null;
        }
        k.epb(it.iface, ts, data, data.length + it.extra, opts);
        count('EPB');
      } else {
        k.pb(it.iface, ts, data, []);
        count('PB');
      }
      frames.push({ interfaceId: it.iface, tsSec, tsNsec, caplen: data.length, len: it.kind === 'epb' ? data.length + it.extra : data.length, data: data.toString('hex'), direction, comment, fileOffset: at });
    } else if (it.kind === 'nrb') {
      k.nrb(Buffer.from([10, 0, 0, 1]), 'vip');
      count('NRB');
    } else {
      k.block(0x00000123, Buffer.alloc(it.words * 4));
      count('UNKNOWN(0x00000123)');
    }
  }
  return { file: k.bytes(), frames, counts: [...counts] };
}

/** Reads `file` pushed in chunks cut at `cuts` (fractions of the length). */
function read(file: Buffer, cuts: number[]): { frames: Seen[]; counts: [string, number][]; warnings: CaptureWarning[] } {
  const frames: Seen[] = [];
  const warnings: CaptureWarning[] = [];
  const parser = new CaptureParser('t.pcapng', (f: Frame) => {
    frames.push({
      interfaceId: f.interfaceId,
      tsSec: f.tsSec,
      tsNsec: f.tsNsec,
      caplen: f.caplen,
      len: f.len,
      data: f.buf.toString('hex', f.off, f.off + f.caplen),
      direction: f.direction,
      comment: f.comment,
      fileOffset: f.fileOffset,
    });
  }, { onWarning: (w) => warnings.push(w) });
  const points = [...new Set(cuts.map((c) => Math.floor(c * file.length)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, file.length]) {
    if (p > from) parser.push(file.subarray(from, p));
    from = Math.max(from, p);
  }
  const s = parser.end();
  return { frames, counts: Object.entries(s.blockCounts), warnings };
}

describe('pcapng EPB fast path', () => {
  it('random files in random chunks: every frame as the model says, counts in first-seen order', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(ifaceArb, { minLength: 1, maxLength: 3 }).chain((ifaces) => fc.tuple(fc.constant(ifaces), itemsArb(ifaces.length))),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        (be, [ifaces, items], cuts) => {
          const want = assemble(be, ifaces, items);
          const got = read(want.file, cuts);
          expect(got.warnings).toEqual([]);
          expect(got.frames).toEqual(want.frames);
          expect(got.counts).toEqual(want.counts);
        },
      ),
      { numRuns: 400 },
    );
  });

  describe('a damaged EPB after good ones fails as the generic parser reports it', () => {
    const good = (k: Blocks): Blocks => k.shb().idb(1, 0, [k.opt(9, Buffer.from([9]))]).epb(0, 1_700_000_000_000_000_000n, Buffer.alloc(20, 1), 20, []).epb(0, 1_700_000_000_000_000_001n, Buffer.alloc(8, 2), 8, []);
    const readAll = (file: Buffer): { frames: number; error: string } => {
      let frames = 0;
      try {
        const p = new CaptureParser('t.pcapng', () => void frames++);
        p.push(file);
        p.end();
        return { frames, error: '' };
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        return { frames, error: e.message };
      }
    };

    it('trailing length that does not match', () => {
      const k = good(new Blocks(false));
      const at = k.bytes().length;
      const file = Buffer.concat([k.bytes(), new Blocks(false).epb(0, 5n, Buffer.alloc(4), 4, []).bytes()]);
      file.writeUInt32LE(0xdead, file.length - 4);
      const r = readAll(file);
      expect(r.frames).toBe(2);
      expect(r.error).toBe(`t.pcapng: offset ${at}: EPB block length 36 does not match its trailing length 57005`);
    });

    it('an interface the section does not have', () => {
      const k = good(new Blocks(true));
      const at = k.bytes().length;
      const r = readAll(Buffer.concat([k.bytes(), new Blocks(true).epb(3, 5n, Buffer.alloc(4), 4, []).bytes()]));
      expect(r.frames).toBe(2);
      expect(r.error).toBe(`t.pcapng: offset ${at}: EPB refers to interface 3 but section 0 has 1 interface(s)`);
    });

    it('a captured length beyond its block', () => {
      const k = good(new Blocks(false));
      const at = k.bytes().length;
      const file = Buffer.concat([k.bytes(), new Blocks(false).epb(0, 5n, Buffer.alloc(4), 4, []).bytes()]);
      file.writeUInt32LE(400, at + 20);
      const r = readAll(file);
      expect(r.frames).toBe(2);
      expect(r.error).toBe(`t.pcapng: offset ${at}: EPB captured length 400 exceeds the 4 bytes its block holds`);
    });
  });
});
