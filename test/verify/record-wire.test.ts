/**
 * Records and ticks survive the packed trip from the feeder thread (engine/record-wire.ts)
 * exactly: every field, IPv4 as numbers and IPv6 as table strings, absent MACs and outer
 * headers, TCP option bytes, unsigned seq/ack, checksum verdicts, the corrected time, and ticks
 * in their place among the records, over enough batches to wrap the ring several times and
 * into reused records left dirty by earlier ones. Property test. The field lists below also fail
 * the test when PacketRecord or IpFields gains a field, until the packing carries it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv4ToString } from '../../src/decode/addr.js';
import type { AnswerNote } from '../../src/verify/engine/director-answers.js';
import { blankIp, blankRecord, type IpFields, type PacketRecord } from '../../src/verify/engine/record.js';
import { RecordPacker, RecordUnpacker, WireRing, type TickNote } from '../../src/verify/engine/record-wire.js';

const RECORD_FIELDS = [
  'point', 'capture', 'frame', 'ts', 't', 'srcMac', 'dstMac', 'direction', 'ifIndex', 'interfaceId', 'ip', 'outer', 'tunnel',
  'proto', 'sport', 'dport', 'seq', 'ack', 'flags', 'window', 'payloadLen', 'hash', 'optSig', 'tcpOpts', 'l4ChecksumOk', 'role', 'c2s',
];
const IP_FIELDS = ['v', 'src', 'dst', 'src4', 'dst4', 'ttl', 'id', 'df', 'mf', 'tos', 'proto', 'totalLen', 'checksumOk'];
const OFFSETS = [0, 1.5e9, -2.25e6, 7];

const u32 = fc.nat({ max: 2 ** 32 - 1 });
const verdict = fc.constantFrom(null, true, false);

const ipFields: fc.Arbitrary<IpFields> = fc.oneof(
  fc.record({ src: u32, dst: u32 }).map(({ src, dst }) => ({ v: 4 as const, src: ipv4ToString(src), dst: ipv4ToString(dst), src4: src | 0, dst4: dst | 0 })),
  fc.record({ src: fc.constantFrom('2001:db8::1', 'fe80::1', '::'), dst: fc.constantFrom('2001:db8::2', '2001:db8:ffff::a') }).map(({ src, dst }) => ({ v: 6 as const, src, dst, src4: 0, dst4: 0 })),
).chain((addr) =>
  fc.record({
    ttl: fc.nat({ max: 255 }),
    id: fc.nat({ max: 65535 }),
    df: fc.boolean(),
    mf: fc.boolean(),
    tos: fc.nat({ max: 255 }),
    proto: fc.nat({ max: 255 }),
    totalLen: fc.nat({ max: 65535 }),
    checksumOk: verdict,
  }).map((rest) => Object.assign(blankIp(), addr, rest)),
);

const record: fc.Arbitrary<PacketRecord> = fc
  .record({
    point: fc.nat({ max: OFFSETS.length - 1 }),
    capture: fc.constantFrom('client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', '/tmp/x/rs1.pcapng'),
    frame: fc.nat({ max: 2 ** 31 - 1 }),
    ts: fc.oneof(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.double({ min: 0, max: 4e18, noNaN: true })),
    srcMac: fc.option(fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff')),
    dstMac: fc.option(fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:03')),
    direction: fc.constantFrom(null, 'in' as const, 'out' as const),
    ifIndex: fc.integer({ min: -1, max: 1000 }),
    interfaceId: fc.nat({ max: 16 }),
    ip: ipFields,
    outer: fc.option(ipFields),
    tunnel: fc.constantFrom(null, 'ipip', 'gre', 'gue'),
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    sport: fc.nat({ max: 65535 }),
    dport: fc.nat({ max: 65535 }),
    seq: u32,
    ack: u32,
    flags: fc.nat({ max: 255 }),
    window: fc.nat({ max: 65535 }),
    payloadLen: fc.nat({ max: 65535 }),
    hash: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    optSig: fc.nat({ max: 2 ** 31 - 1 }),
    tcpOpts: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 })),
    l4ChecksumOk: verdict,
  })
  .map((f) => {
    const r = blankRecord();
    Object.assign(r, f);
    r.t = r.ts - OFFSETS[r.point]!;
    return r;
  });

const answer: fc.Arbitrary<AnswerNote> = fc.oneof(
  fc.record({ frag: fc.constantFrom('a>b#1', 'c>d#2'), l4Hdr: fc.integer({ min: -1, max: 60 }), l4Total: fc.integer({ min: -1, max: 9000 }) }),
  fc.record({
    icmp: fc.constantFrom('198.51.100.7|40000|1|5'),
    answer: fc.record({ family: fc.constant(4 as const), type: fc.constant(11), code: fc.constant(0), mtu: fc.constant(-1), from: fc.constant('192.0.2.1'), capture: fc.constant('d.pcap'), frame: fc.nat() }),
  }),
);
const tick: fc.Arbitrary<TickNote> = fc.record({
  now: fc.integer({ min: 0, max: 2 ** 52 }),
  extents: fc.array(fc.double({ noNaN: true }), { minLength: 3, maxLength: 12 }),
  answers: fc.array(answer, { maxLength: 3 }),
});
const entry = fc.oneof({ arbitrary: record.map((r) => ({ r })), weight: 8 }, { arbitrary: tick.map((t) => ({ t })), weight: 1 });

describe('record wire (feeder thread → judging thread)', () => {
  it('knows every field of a record and of its IP headers', () => {
    expect(Object.keys(blankRecord()).sort(), 'a new PacketRecord field must be packed by engine/record-wire.ts and listed here').toEqual([...RECORD_FIELDS].sort());
    expect(Object.keys(blankIp()).sort(), 'a new IpFields field must be packed by engine/record-wire.ts and listed here').toEqual([...IP_FIELDS].sort());
  });

  it('gives back every record and tick, in order, over many batches through a small ring', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (entries, perBatch, slots) => {
        const ring = WireRing.create(slots, perBatch);
        let acquired = 0;
        const packer = new RecordPacker(ring, () => acquired++);
        const unpacker = new RecordUnpacker(ring, OFFSETS);
        // One dirty record reused for every unpacked one: nothing of an earlier record may stay.
        const reused = blankRecord();
        reused.outer = blankIp();
        reused.tcpOpts = new Uint8Array([1, 2, 3]);
        reused.role = 'De';
        reused.c2s = false;
        const out: ({ r: PacketRecord } | { t: TickNote })[] = [];
        let batches = 0;
        const drain = (): void => {
          const { batch } = packer.take();
          batches++;
          unpacker.load(batch);
          for (let i = 0; i < batch.count; i++) {
            const t = unpacker.tickAt(i);
            out.push(t === null ? { r: structuredClone(unpacker.record(i, reused)) } : { t });
          }
        };
        for (const e of entries) {
          if ('r' in e) packer.add(e.r);
          else packer.tick(e.t);
          if (packer.full) drain();
        }
        if (packer.size > 0) drain();
        expect(acquired).toBe(batches);
        expect(batches).toBe(Math.ceil(entries.length / perBatch));
        expect(out).toEqual(entries);
      }),
      { numRuns: 300 },
    );
  });

  it('reads seq and ack back unsigned, and IPv4 addresses back as interned text', () => {
    const ring = WireRing.create(1, 4);
    const packer = new RecordPacker(ring);
    const r = blankRecord();
    r.seq = 0xffffffff;
    r.ack = 0x80000000;
    r.ip = Object.assign(blankIp(), { src: '203.0.113.200', dst: '10.0.0.1', src4: 0xcb0071c8 | 0, dst4: 0x0a000001 });
    packer.add(r);
    packer.add(r);
    const u = new RecordUnpacker(ring, OFFSETS);
    u.load(packer.take().batch);
    const a = u.record(0);
    const b = u.record(1);
    expect([a.seq, a.ack]).toEqual([0xffffffff, 0x80000000]);
    expect([a.ip.src, a.ip.dst]).toEqual(['203.0.113.200', '10.0.0.1']);
    expect(b.ip.src).toBe(a.ip.src);
  });
});
