/**
 * A record is packed straight from the decoded packet (read/record.ts packPacket) and read
 * back into a PacketRecord (readEntry), by a run read on one thread and by the feeder thread
 * (verify/parallel/record-wire.ts carries the entries through the batches of a shared ring)
 * alike. What comes out must equal a record copied field by field from the packet view (the
 * reference below, written apart from the packing):
 *  - on every frame of every committed capture set (NAT, DR, TUN with IPIP/GRE/GUE outer
 *    headers, FullNAT with TOA options, UDP, lab and replayed real-kernel captures), with and
 *    without the option bytes;
 *  - on built frames of every kind the decoder knows (IPv6, tunnels, raw IP, ICMP errors), with
 *    random bytes overwritten and random snap lengths (cut payloads, malformed headers);
 *  - through batches that wrap a small ring, with ticks in their place among the records, and
 *    into reused records left dirty by earlier ones.
 * The filter of a configured run (read/keep.ts keepForServices, asked of the entry) must keep
 * exactly the records that name a service address or port. The field lists fail the test when
 * PacketRecord or IpFields gains a field, until the packing and the reference carry it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCaptureFrames } from '../helpers/frames.js';
import { ipv4ToString, ipv6ToString, macToString } from '../../src/decode/addr.js';
import { Decoder } from '../../src/decode/decoder.js';
import type { Frame } from '../../src/decode/frame.js';
import type { IpView, Packet } from '../../src/decode/packet.js';
import {
  blankIp,
  blankRecord,
  Entries,
  extractRecord,
  optionsEnd,
  optionsHash,
  packPacket,
  readEntry,
  recordPayloadHash,
  recordPayloadLen,
  STRIDE,
  transportOf,
} from '../../src/verify/read/record.js';
import type { IpFields, PacketRecord } from '../../src/verify/model/record.js';
import { RecordPacker, RecordUnpacker, WireRing, type TickNote } from '../../src/verify/parallel/record-wire.js';
import { keepForServices } from '../../src/verify/read/keep.js';
import { serviceAddresses, servicePorts, type Service } from '../../src/verify/service/model.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { captureSets } from '../helpers/capture-sets.js';
import { eth, ipv4, ipv6, pseudo4, pseudo6, tcp, u16, udp } from '../decode/build.js';
import { SEEDS as DECODER_SEEDS } from '../decode/seeds.js';
import { readFileSync } from 'node:fs';

const RECORD_FIELDS = [
  'point', 'capture', 'frame', 'ts', 't', 'srcMac', 'dstMac', 'direction', 'ifIndex', 'interfaceId', 'ip', 'outer', 'tunnel',
  'proto', 'sport', 'dport', 'seq', 'ack', 'flags', 'window', 'payloadLen', 'hash', 'optSig', 'tcpOpts', 'uoaMode', 'uoa', 'l4ChecksumOk', 'l4ChecksumPartial', 'mss', 'role', 'c2s',
];
const IP_FIELDS = ['v', 'src', 'dst', 'ttl', 'id', 'flow', 'df', 'mf', 'tos', 'proto', 'totalLen', 'checksumOk'];
const OFFSETS = [0, 1.5e9, -2.25e6, 7];

function refIp(v: IpView, buf: Uint8Array): IpFields {
  const v4 = v.version === 4;
  return {
    v: v4 ? 4 : 6,
    src: v4 ? ipv4ToString(v.src4) : ipv6ToString(buf, v.srcOff),
    dst: v4 ? ipv4ToString(v.dst4) : ipv6ToString(buf, v.dstOff),
    ttl: v.ttl,
    id: v.id,
    flow: v4 ? 0 : v.flowLabel,
    df: v.df,
    mf: v.mf,
    tos: v.tos,
    proto: v.proto,
    totalLen: v.totalLen,
    checksumOk: v.checksumOk,
  };
}

/** The reference: what a record holds of packet `p`, copied field by field from the view. */
function reference(p: Packet, point: number, withOptions: boolean, offsetNs = 0): PacketRecord | null {
  const l = transportOf(p);
  if (!l) return null;
  const isTcp = l.l4 === 'tcp';
  const tunnelled = p.tunnel !== null && p.inner.present;
  const ts = p.tsSec * 1e9 + p.tsNsec;
  const optEnd = isTcp && withOptions ? optionsEnd(p, l) : -1;
  // DPVS's UOA of a UDP datagram: the option (ipo) or the shim with its options (opp), as captured.
  const u = l.uoa;
  const uoaMode = isTcp ? 0 : (u.mode as 0 | 1 | 2);
  const uoaFrom = uoaMode === 2 ? u.shimOff : u.optOff;
  const uoaTo = Math.min(uoaFrom + (uoaMode === 2 ? u.shimLen : u.len), p.end);
  return {
    point,
    capture: p.capture,
    frame: p.frame,
    ts,
    t: ts - offsetNs,
    srcMac: p.eth.present ? macToString(p.buf, p.eth.srcOff) : null,
    dstMac: p.eth.present ? macToString(p.buf, p.eth.dstOff) : null,
    direction: p.direction,
    ifIndex: p.sll.present ? p.sll.ifIndex : -1,
    interfaceId: p.interfaceId,
    ip: refIp(l.ip, p.buf),
    outer: tunnelled ? refIp(p.net.ip, p.buf) : null,
    tunnel: tunnelled ? p.tunnel : null,
    proto: isTcp ? 'tcp' : 'udp',
    sport: isTcp ? l.tcp.sport : l.udp.sport,
    dport: isTcp ? l.tcp.dport : l.udp.dport,
    seq: isTcp ? l.tcp.seq : 0,
    ack: isTcp ? l.tcp.ack : 0,
    flags: isTcp ? l.tcp.flags : 0,
    window: isTcp ? l.tcp.window : 0,
    payloadLen: recordPayloadLen(l),
    hash: recordPayloadHash(p, l),
    optSig: isTcp ? optionsHash(p, l) : 0,
    tcpOpts: optEnd < 0 ? null : Uint8Array.prototype.slice.call(p.buf, l.tcp.off + 20, optEnd),
    uoaMode,
    uoa: uoaMode === 0 || !withOptions || uoaTo <= uoaFrom ? null : Uint8Array.prototype.slice.call(p.buf, uoaFrom, uoaTo),
    l4ChecksumOk: isTcp ? l.tcp.checksumOk : l.udp.checksumOk,
    l4ChecksumPartial: isTcp ? l.tcp.checksumPartial : l.udp.checksumPartial,
    mss: isTcp && l.tcp.mss > 0 ? l.tcp.mss : 0,
    role: null,
    c2s: true,
  };
}

/** A record left dirty by another packet, to read into. */
function dirty(): PacketRecord {
  const r = blankRecord();
  r.outer = blankIp();
  r.tcpOpts = new Uint8Array([9]);
  r.uoa = new Uint8Array([7]);
  r.uoaMode = 2;
  r.role = 'R';
  r.c2s = false;
  r.tunnel = 'gre';
  return r;
}

/** The record extractRecord gives, into a dirty record, and the reference. */
function both(d: Decoder, f: Frame, point: number, withOptions: boolean): [unknown, unknown] {
  const p = d.decode(f);
  const got = extractRecord(p, point, withOptions, dirty());
  return [got === null ? null : structuredClone(got), structuredClone(reference(p, point, withOptions))];
}

/** Whether a record names a service address or port (what a configured run keeps). */
function concerns(r: PacketRecord, services: readonly Service[]): boolean {
  const addrs = serviceAddresses(services);
  const ports = servicePorts(services);
  const ips = r.outer ? [r.ip, r.outer] : [r.ip];
  return ips.some((ip) => addrs.has(ip.src) || addrs.has(ip.dst)) || ports.has(r.sport) || ports.has(r.dport);
}

// The decoder's seed frames, and plain IPv6 TCP and raw IPv4 TCP (no fragment header, no Ethernet).
const plain6 = ipv6({ nh: 6 }, tcp({ options: [253, 20, ...u16(7), ...Array(16).fill(1)], payload: [7, 7] }, (l) => pseudo6('2001:db8::1', '2001:db8::2', 6, l)));
const plain4 = ipv4({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ flags: 0x18, payload: [1, 2, 3, 4, 5] }, (l) => pseudo4('10.0.0.1', '10.0.0.2', 6, l)));
// DPVS's UOA: the IPv4 option (ipo) and the protocol-248 shim (opp, IPv4 and IPv6 addresses).
const uoaOpt = [31, 8, ...u16(40123), 198, 51, 100, 7];
const uoaDgram = udp(1025, 5353, [1, 2, 3]);
const ipo4 = ipv4({ proto: 17, src: '10.0.0.100', dst: '10.0.0.11', options: uoaOpt }, uoaDgram);
const opp4 = ipv4({ proto: 248, src: '10.0.0.100', dst: '10.0.0.11' }, [0x10, 17, ...u16(12), ...uoaOpt, ...uoaDgram]);
const opp6 = ipv6({ nh: 248 }, [0x20, 17, ...u16(24), 31, 20, ...u16(7), ...Array(16).fill(9), ...uoaDgram]);
const SEEDS = [...DECODER_SEEDS, { lt: 1, bytes: eth(0x86dd, plain6) }, { lt: 101, bytes: plain4 },
  { lt: 1, bytes: eth(0x0800, ipo4) }, { lt: 1, bytes: eth(0x0800, opp4) }, { lt: 1, bytes: eth(0x86dd, opp6) }];

function frame(bytes: Buffer, lt: number, caplen: number): Frame {
  return { capture: 'built.pcap', frame: 3, buf: bytes, off: 0, caplen, len: bytes.length, tsSec: 1_700_000_000, tsNsec: 123_456_789, linkType: lt, interfaceId: 0, direction: 'out', comment: null, fileOffset: 0 };
}

describe('records packed and read back (read/record.ts; the feeder thread: verify/parallel/record-wire.ts)', () => {
  it('knows every field of a record and of its IP headers', () => {
    expect(Object.keys(blankRecord()).sort(), 'a new PacketRecord field must be packed by read/record.ts and listed here').toEqual([...RECORD_FIELDS].sort());
    expect(Object.keys(blankIp()).sort(), 'a new IpFields field must be packed by read/record.ts and listed here').toEqual([...IP_FIELDS].sort());
  });

  it('gives the reference record for every frame of every committed capture set', () => {
    let compared = 0;
    for (const set of captureSets()) {
      for (const file of readdirSync(set.dir).filter((f) => f.endsWith('.pcap'))) {
        const d = new Decoder({});
        for (const f of readCaptureFrames(path.join(set.dir, file))) {
          for (const withOptions of [true, false]) {
            const [got, want] = both(d, f, 2, withOptions);
            expect(got, `${set.name}/${file}#${f.frame}`).toEqual(want);
            if (want !== null) compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('gives the reference record for built frames with random bytes overwritten and random snap lengths', () => {
    fc.assert(
      fc.property(fc.nat(SEEDS.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }), fc.boolean(), (seed, flips, cut, withOptions) => {
        const s = SEEDS[seed]!;
        const bytes = Buffer.from(s.bytes);
        for (const [at, v] of flips) bytes[at % bytes.length] = v;
        const f = frame(bytes, s.lt, cut === undefined ? bytes.length : cut % (bytes.length + 1));
        const [got, want] = both(new Decoder({ guePorts: [6080] }), f, 1, withOptions);
        expect(got).toEqual(want);
      }),
      { numRuns: 6000 },
    );
  });

  it('carries entries and ticks in order through batches that wrap a small ring, into reused records', () => {
    const d = new Decoder({ guePorts: [6080] });
    const source = SEEDS.map((s, i) => ({ ...frame(Buffer.from(s.bytes), s.lt, s.bytes.length), capture: `c${i % 3}.pcap`, frame: i + 1 }));
    const captures = ['c0.pcap', 'c1.pcap', 'c2.pcap'];
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ arbitrary: fc.nat(source.length - 1).map((i) => ({ i })), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 2 ** 40 }).map((now) => ({ now })), weight: 1 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        (plan, perBatch, slots) => {
          const ring = WireRing.create(slots, perBatch);
          let acquired = 0;
          const packer = new RecordPacker(ring, () => acquired++);
          const unpacker = new RecordUnpacker(ring, OFFSETS, captures);
          const queue = new Entries(1, 4);
          const reused = dirty();
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
              // A queue that grows from one entry, with bytes of earlier entries before this
              // one's: they move into the batch's own byte array.
              const n = step.i % 3;
              const p = d.decode(f);
              if (!packPacket(p, point, step.i % 3, true, queue, n)) continue;
              packer.add(queue, n);
              want.push(structuredClone(reference(p, point, true, OFFSETS[point])));
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

  it('keeps exactly the records that name a service address or port', () => {
    const nat = captureSets().find((s) => s.name === 'verify/nat-ok')!;
    const conf = path.join(nat.dir, 'service.conf');
    const configured = parseServiceConfig(readFileSync(conf, 'utf8'), conf).services;
    const services: Service[][] = [
      configured,
      [{ ...configured[0]!, vip: '2001:db8::10', realServers: [] }],
      [{ ...configured[0]!, vport: 53, realServers: [] }],
      // A text that is no address's text (leading zero): as a record's text never equals it.
      [{ ...configured[0]!, vip: '10.0.0.010', vport: 1, realServers: [] }],
    ];
    const d = new Decoder({});
    let kept = 0;
    let dropped = 0;
    for (const svc of services) {
      const keep = keepForServices(svc);
      for (const set of captureSets()) {
        for (const file of readdirSync(set.dir).filter((f) => f.endsWith('.pcap'))) {
          const e = new Entries(1, 4);
          for (const f of readCaptureFrames(path.join(set.dir, file))) {
            const p = d.decode(f);
            const r = reference(p, 0, false);
            // After other entries' bytes, as in a reader's queue.
            expect(packPacket(p, 0, 0, false, e, 0)).toBe(r !== null);
            if (r === null) continue;
            const k = concerns(r, svc);
            expect(keep(e, 0), `${set.name}/${file}#${f.frame}`).toBe(k);
            if (k) kept++;
            else dropped++;
          }
        }
      }
    }
    expect(kept).toBeGreaterThan(100);
    expect(dropped).toBeGreaterThan(100);
  });

  it('reads seq and ack back unsigned', () => {
    const e = new Entries(1, 4);
    const bytes = Buffer.from(eth(0x0800, ipv4({ proto: 6, src: '203.0.113.200', dst: '10.0.0.1' }, tcp({ seq: 0xffffffff, ack: 0x80000000, flags: 0x10 }, (l) => pseudo4('203.0.113.200', '10.0.0.1', 6, l)))));
    const d = new Decoder({});
    expect(packPacket(d.decode(frame(bytes, 1, bytes.length)), 0, 0, false, e, 0)).toBe(true);
    expect(e.i32.length).toBe(STRIDE);
    const r = readEntry(e.i32, e.f64, 0, e.bytes, ['built.pcap']);
    expect([r.seq, r.ack, r.ip.src, r.ip.dst, r.capture]).toEqual([0xffffffff, 0x80000000, '203.0.113.200', '10.0.0.1', 'built.pcap']);
  });
});
