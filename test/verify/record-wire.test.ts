/**
 * The feeder thread packs the record extractRecord gives (verify/parallel/record-wire.ts
 * packPacket, packRecord); the judging thread reads it back (readEntry, via the batches of a
 * shared ring). What comes out must equal extractRecord's record, field for field:
 *  - on every frame of every committed capture set (NAT, DR, TUN with IPIP/GRE/GUE outer
 *    headers, FullNAT with TOA options, UDP, lab and replayed real-kernel captures), with and
 *    without the option bytes;
 *  - on built frames of every kind the decoder knows (IPv6, tunnels, raw IP, ICMP errors), with
 *    random bytes overwritten and random snap lengths (cut payloads, malformed headers);
 *  - through batches that wrap a small ring, with ticks in their place among the records, and
 *    into reused records left dirty by earlier ones.
 * The entry filter of a configured run (keepsEntry) must keep exactly the records
 * keepForServices keeps, whether it tests the record just packed or reads the entry back. The
 * field lists fail the test when PacketRecord or IpFields gains a field, until the packing
 * carries it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCaptureFrames } from '../helpers/frames.js';
import { Decoder } from '../../src/decode/decoder.js';
import type { Frame } from '../../src/decode/frame.js';
import { blankIp, blankRecord, extractRecord } from '../../src/verify/read/record.js';
import type { PacketRecord } from '../../src/verify/model/record.js';
import { Entries, keepsEntry, packPacket, packRecord, readEntry, RecordPacker, RecordUnpacker, STRIDE, WireRing, WireStrings, type TickNote } from '../../src/verify/parallel/record-wire.js';
import { keepForServices } from '../../src/verify/read/keep.js';
import type { Service } from '../../src/verify/service/model.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { captureSets } from '../helpers/capture-sets.js';
import { eth, ipv4, ipv6, pseudo4, pseudo6, tcp, u16 } from '../decode/build.js';
import { SEEDS as DECODER_SEEDS } from '../decode/seeds.js';
import { readFileSync } from 'node:fs';

const RECORD_FIELDS = [
  'point', 'capture', 'frame', 'ts', 't', 'srcMac', 'dstMac', 'direction', 'ifIndex', 'interfaceId', 'ip', 'outer', 'tunnel',
  'proto', 'sport', 'dport', 'seq', 'ack', 'flags', 'window', 'payloadLen', 'hash', 'optSig', 'tcpOpts', 'l4ChecksumOk', 'l4ChecksumPartial', 'mss', 'role', 'c2s',
];
const IP_FIELDS = ['v', 'src', 'dst', 'ttl', 'id', 'df', 'mf', 'tos', 'proto', 'totalLen', 'checksumOk'];
const OFFSETS = [0, 1.5e9, -2.25e6, 7];

/** Packs `p` into a one-entry queue and reads it back; null when extractRecord gives none. */
function roundTrip(d: Decoder, f: Frame, point: number, withOptions: boolean, strings: WireStrings, reader: string[]): PacketRecord | null {
  const p = d.decode(f);
  const e = new Entries(1, 4);
  if (!packPacket(p, point, withOptions, e, 0, strings, strings.table.of(f.capture))) return null;
  for (const s of strings.fresh()) reader.push(s);
  const dirty = blankRecord();
  dirty.outer = blankIp();
  dirty.tcpOpts = new Uint8Array([9]);
  dirty.role = 'R';
  dirty.c2s = false;
  return structuredClone(readEntry(e.i32, e.f64, 0, e.opts, reader, OFFSETS, dirty));
}

function expected(d: Decoder, f: Frame, point: number, withOptions: boolean): PacketRecord | null {
  const r = extractRecord(d.decode(f), point, withOptions);
  if (r === null) return null;
  r.t = r.ts - OFFSETS[point]!;
  return structuredClone(r);
}

// The decoder's seed frames, and plain IPv6 TCP and raw IPv4 TCP (no fragment header, no Ethernet).
const plain6 = ipv6({ nh: 6 }, tcp({ options: [253, 20, ...u16(7), ...Array(16).fill(1)], payload: [7, 7] }, (l) => pseudo6('2001:db8::1', '2001:db8::2', 6, l)));
const plain4 = ipv4({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ flags: 0x18, payload: [1, 2, 3, 4, 5] }, (l) => pseudo4('10.0.0.1', '10.0.0.2', 6, l)));
const SEEDS = [...DECODER_SEEDS, { lt: 1, bytes: eth(0x86dd, plain6) }, { lt: 101, bytes: plain4 }];

function frame(bytes: Buffer, lt: number, caplen: number): Frame {
  return { capture: 'built.pcap', frame: 3, buf: bytes, off: 0, caplen, len: bytes.length, tsSec: 1_700_000_000, tsNsec: 123_456_789, linkType: lt, interfaceId: 0, direction: 'out', comment: null, fileOffset: 0 };
}

describe('record wire (feeder thread → judging thread)', () => {
  it('knows every field of a record and of its IP headers', () => {
    expect(Object.keys(blankRecord()).sort(), 'a new PacketRecord field must be packed by verify/parallel/record-wire.ts and listed here').toEqual([...RECORD_FIELDS].sort());
    expect(Object.keys(blankIp()).sort(), 'a new IpFields field must be packed by verify/parallel/record-wire.ts and listed here').toEqual([...IP_FIELDS].sort());
  });

  it('gives extractRecord\'s record for every frame of every committed capture set', () => {
    let compared = 0;
    for (const set of captureSets()) {
      for (const file of readdirSync(set.dir).filter((f) => f.endsWith('.pcap'))) {
        const strings = new WireStrings();
        const table: string[] = [];
        const d = new Decoder({});
        for (const f of readCaptureFrames(path.join(set.dir, file))) {
          for (const withOptions of [true, false]) {
            const want = expected(d, f, 2, withOptions);
            expect(roundTrip(d, f, 2, withOptions, strings, table), `${set.name}/${file}#${f.frame}`).toEqual(want);
            if (want !== null) compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('gives extractRecord\'s record for built frames with random bytes overwritten and random snap lengths', () => {
    fc.assert(
      fc.property(fc.nat(SEEDS.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }), fc.boolean(), (seed, flips, cut, withOptions) => {
        const s = SEEDS[seed]!;
        const bytes = Buffer.from(s.bytes);
        for (const [at, v] of flips) bytes[at % bytes.length] = v;
        const f = frame(bytes, s.lt, cut === undefined ? bytes.length : cut % (bytes.length + 1));
        const d = new Decoder({ guePorts: [6080] });
        const strings = new WireStrings();
        expect(roundTrip(d, f, 1, withOptions, strings, [])).toEqual(expected(d, f, 1, withOptions));
      }),
      { numRuns: 6000 },
    );
  });

  it('carries entries and ticks in order through batches that wrap a small ring, into reused records', () => {
    const d = new Decoder({ guePorts: [6080] });
    const source = SEEDS.map((s, i) => ({ ...frame(Buffer.from(s.bytes), s.lt, s.bytes.length), frame: i + 1 }));
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ arbitrary: fc.nat(source.length - 1).map((i) => ({ i })), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 2 ** 40 }).map((now) => ({ now })), weight: 1 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        (plan, perBatch, slots) => {
          const ring = WireRing.create(slots, perBatch);
          const strings = new WireStrings();
          let acquired = 0;
          const packer = new RecordPacker(ring, strings, () => acquired++);
          const unpacker = new RecordUnpacker(ring, OFFSETS);
          const queue = new Entries(1, 4);
          const reused = blankRecord();
          const want: unknown[] = [];
          const got: unknown[] = [];
          let batches = 0;
          const drain = (): void => {
            const { batch } = packer.take();
            batches++;
            unpacker.load(batch);
            for (let i = 0; i < batch.count; i++) {
              const t = unpacker.tickAt(i);
              got.push(t === null ? structuredClone(unpacker.record(i, reused)) : t.now);
            }
          };
          for (const step of plan) {
            if ('now' in step) {
              const note: TickNote = { now: step.now, extents: [], answers: [] };
              packer.tick(note);
              want.push(step.now);
            } else {
              const f = source[step.i]!;
              const point = step.i % OFFSETS.length;
              // A queue that grows from one entry: its option bytes move into the batch's own.
              const n = step.i % 3;
              if (!packPacket(d.decode(f), point, true, queue, n, strings, strings.table.of(f.capture))) continue;
              packer.add(queue, n);
              want.push(expected(d, f, point, true));
            }
            if (packer.full) drain();
          }
          if (packer.size > 0) drain();
          expect(acquired).toBe(batches);
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps exactly the entries whose records keepForServices keeps', () => {
    const nat = captureSets().find((s) => s.name === 'verify/nat-ok')!;
    const conf = path.join(nat.dir, 'service.conf');
    const configured = parseServiceConfig(readFileSync(conf, 'utf8'), conf).services;
    const services: Service[][] = [configured, [{ ...configured[0]!, vip: '2001:db8::10', realServers: [] }], [{ ...configured[0]!, vport: 53, realServers: [] }]];
    const d = new Decoder({});
    let kept = 0;
    let dropped = 0;
    for (const svc of services) {
      const keep = keepForServices(svc);
      for (const set of captureSets()) {
        for (const file of readdirSync(set.dir).filter((f) => f.endsWith('.pcap'))) {
          const strings = new WireStrings();
          for (const f of readCaptureFrames(path.join(set.dir, file))) {
            const r = extractRecord(d.decode(f), 0, false);
            const e = new Entries(1, 4);
            const packed = packPacket(d.packet, 0, false, e, 0, strings, strings.table.of(f.capture));
            expect(packed).toBe(r !== null);
            if (r === null) continue;
            const k = keep(r);
            expect(keepsEntry(e, 0, strings.table.list, keep), `${set.name}/${file}#${f.frame}`).toBe(k);
            // Once another entry was packed since, the entry is read back to be tested.
            packPacket(d.packet, 0, false, new Entries(1, 4), 0, strings, strings.table.of(f.capture));
            expect(keepsEntry(e, 0, strings.table.list, keep), `${set.name}/${file}#${f.frame} read back`).toBe(k);
            if (k) kept++;
            else dropped++;
          }
        }
      }
    }
    expect(kept).toBeGreaterThan(100);
    expect(dropped).toBeGreaterThan(100);
  });

  it('carries every field of a record, tunnelled IPv6 with options and no MACs included', () => {
    const r = blankRecord();
    Object.assign(r, {
      point: 2, capture: 'x.pcapng', frame: 77, ts: 1.7e18 + 5, t: 1.7e18 + 5, srcMac: null, dstMac: '02:00:00:00:00:01', direction: 'in', ifIndex: 3,
      interfaceId: 1, tunnel: 'gue', proto: 'udp', sport: 65535, dport: 1, seq: 0xfffffffe, ack: 0x80000001, flags: 0x1ff, window: 65535,
      payloadLen: 9000, hash: -1, optSig: 0x7fffffff, tcpOpts: new Uint8Array([2, 4, 5, 180]), l4ChecksumOk: false,
    });
    Object.assign(r.ip, { v: 6, src: '2001:db8::1', dst: '2001:db8::2', ttl: 255, id: 0xffffffff, df: true, mf: true, tos: 255, proto: 17, totalLen: 65535, checksumOk: null });
    r.outer = { ...blankIp(), src: '192.0.2.1', dst: '10.0.0.11', ttl: 1, id: 65535, df: false, mf: false, tos: 0, proto: 17, totalLen: 9100, checksumOk: true };
    const strings = new WireStrings();
    const e = new Entries(1, 4);
    packRecord(r, e, 0, strings);
    expect(readEntry(e.i32, e.f64, 0, e.opts, strings.table.list, null)).toEqual(r);
  });

  it('reads seq and ack back unsigned', () => {
    const e = new Entries(1, 4);
    const strings = new WireStrings();
    const bytes = Buffer.from(eth(0x0800, ipv4({ proto: 6, src: '203.0.113.200', dst: '10.0.0.1' }, tcp({ seq: 0xffffffff, ack: 0x80000000, flags: 0x10 }, (l) => pseudo4('203.0.113.200', '10.0.0.1', 6, l)))));
    const d = new Decoder({});
    expect(packPacket(d.decode(frame(bytes, 1, bytes.length)), 0, false, e, 0, strings, 0)).toBe(true);
    expect(e.i32.length).toBe(STRIDE);
    const r = readEntry(e.i32, e.f64, 0, null, [...strings.table.list], OFFSETS);
    expect([r.seq, r.ack, r.ip.src, r.ip.dst]).toEqual([0xffffffff, 0x80000000, '203.0.113.200', '10.0.0.1']);
  });
});
