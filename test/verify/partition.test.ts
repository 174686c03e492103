/**
 * verify/parallel/partition.ts: the shares of a split verify run. Properties over generated frames:
 * every TCP/UDP packet belongs to exactly one share; a packet and its reply, and the copies of
 * a packet on both sides of a NAT director, are in the same share; and the raw-frame check a
 * helper uses to pass over frames undecoded (shareSkip) never skips a frame that the decoded
 * check (shareFilter) would keep — including damaged, cut, fragmented and VLAN-tagged frames.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import { LinkType, type Frame } from '../../src/decode/frame.js';
import { bucketRange, shareFilter, shareSkip, type ShareSpec } from '../../src/verify/parallel/partition.js';
import type { Service } from '../../src/verify/service/model.js';

const VIP = [192, 0, 2, 10];
const RIPS = [
  [10, 0, 0, 11],
  [10, 0, 0, 12],
];

const service = {
  vip: '192.0.2.10',
  vport: 80,
  realServers: [
    { ip: '10.0.0.11', port: 8080 },
    { ip: '10.0.0.12', port: 8080 },
  ],
  localAddresses: [],
} as unknown as Service;

interface Spec {
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  proto: 6 | 17;
  vlan: boolean;
  ihlWords: number;
  frag: number;
  cut: number;
  junk: number;
}

/** An Ethernet frame carrying IPv4 TCP/UDP, with the header fields a spec names. */
function frameOf(s: Spec): Frame {
  const l2 = s.vlan ? 18 : 14;
  const ihl = s.ihlWords * 4;
  const l4len = s.proto === 6 ? 20 : 8;
  const total = ihl + l4len + 4;
  const buf = Buffer.alloc(l2 + Math.max(total, 20));
  buf.fill(0xee, 0, 12);
  if (s.vlan) {
    buf.writeUInt16BE(0x8100, 12);
    buf.writeUInt16BE(7, 14);
  }
  buf.writeUInt16BE(0x0800, l2 - 2);
  buf[l2] = 0x40 | (s.ihlWords & 15);
  buf.writeUInt16BE(total, l2 + 2);
  buf.writeUInt16BE(s.frag, l2 + 6);
  buf[l2 + 8] = 64;
  buf[l2 + 9] = s.proto;
  Buffer.from(s.src).copy(buf, l2 + 12);
  Buffer.from(s.dst).copy(buf, l2 + 16);
  const l4 = l2 + Math.max(ihl, 20);
  if (l4 + 4 <= buf.length) {
    buf.writeUInt16BE(s.sport, l4);
    buf.writeUInt16BE(s.dport, l4 + 2);
  }
  if (s.proto === 6 && l4 + 13 <= buf.length) buf[l4 + 12] = 0x50;
  if (s.proto === 17 && l4 + 6 <= buf.length) buf.writeUInt16BE(l4len + 4, l4 + 4);
  if (s.junk >= 0 && s.junk < buf.length) buf[s.junk] ^= 0xa5;
  const caplen = Math.max(0, buf.length - s.cut);
  return {
    capture: 't.pcap', frame: 1, buf, off: 0, caplen, len: buf.length, tsSec: 1, tsNsec: 0,
    linkType: LinkType.ETHERNET, interfaceId: 0, direction: null, comment: null, fileOffset: 0,
  };
}

const addr = fc.oneof(
  fc.constant(VIP),
  fc.constantFrom(...RIPS),
  fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })),
);
const port = fc.oneof(fc.constantFrom(80, 8080), fc.integer({ min: 1, max: 65535 }));
/** The packet's ends and kind, shared by clean and damaged frames. */
const ends = {
  src: addr,
  dst: addr,
  sport: port,
  dport: port,
  proto: fc.constantFrom(6 as const, 17 as const),
  vlan: fc.boolean(),
};
const clean: fc.Arbitrary<Spec> = fc.record({ ...ends, ihlWords: fc.constant(5), frag: fc.constant(0), cut: fc.constant(0), junk: fc.constant(-1) });
const damaged: fc.Arbitrary<Spec> = fc.record({
  ...ends,
  ihlWords: fc.integer({ min: 0, max: 15 }),
  frag: fc.oneof(fc.constant(0), fc.constant(0x4000), fc.integer({ min: 0, max: 0xffff })),
  cut: fc.integer({ min: 0, max: 40 }),
  junk: fc.integer({ min: -1, max: 70 }),
});

const decoder = new Decoder();
const specs: ShareSpec[] = [
  { index: 0, of: 2 },
  { index: 1, of: 2 },
];
const filters = specs.map((s) => shareFilter([service], s)!);
const skips = specs.map((s) => shareSkip([service], s)!);

function sharesOf(f: Frame): number[] {
  return filters.map((keep, i) => (keep(decoder.decode(f)) ? i : -1)).filter((i) => i >= 0);
}

describe('verify shares (verify/parallel/partition.ts)', () => {
  it('bucket ranges of 1, 2, 3 and 4 shares cover every bucket once', () => {
    for (const of of [1, 2, 3, 4]) {
      const ranges = Array.from({ length: of }, (_, index) => bucketRange({ index, of }));
      expect(ranges[0]![0]).toBe(0);
      for (let i = 1; i < of; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
      expect(ranges[of - 1]![1]).toBe(1024);
      for (const [lo, hi] of ranges) expect(hi).toBeGreaterThan(lo);
    }
  });

  it('every TCP/UDP packet is in exactly one share, or in all when its client end cannot be told', () => {
    const svcAddr = (a: number[]): boolean => a.join('.') === VIP.join('.') || RIPS.some((r) => r.join('.') === a.join('.'));
    const svcPort = (p: number): boolean => p === 80 || p === 8080;
    const vipEnd = (a: number[], p: number): boolean => a.join('.') === VIP.join('.') && p === 80;
    let one = 0;
    fc.assert(
      fc.property(clean, (s) => {
        const told = vipEnd(s.src, s.sport) !== vipEnd(s.dst, s.dport) || svcAddr(s.src) !== svcAddr(s.dst) || svcPort(s.sport) !== svcPort(s.dport);
        expect(sharesOf(frameOf(s))).toHaveLength(told ? 1 : specs.length);
        if (told) one++;
      }),
      { numRuns: 2000 },
    );
    expect(one).toBeGreaterThan(1000);
  });

  it('a packet to the VIP port makes its sender the client, even a real server sending from its service port', () => {
    const base = { proto: 6 as const, vlan: false, ihlWords: 5, frag: 0, cut: 0, junk: -1 };
    const toVip = frameOf({ ...base, src: RIPS[1]!, dst: VIP, sport: 8080, dport: 80 });
    const reply = frameOf({ ...base, src: VIP, dst: RIPS[1]!, sport: 80, dport: 8080 });
    expect(sharesOf(toVip)).toHaveLength(1);
    expect(sharesOf(reply)).toEqual(sharesOf(toVip));
  });

  it('real server to real server on service ports (no end tells the client): both directions go to every share', () => {
    const base = { proto: 6 as const, vlan: false, ihlWords: 5, frag: 0, cut: 0, junk: -1 };
    const fwd = frameOf({ ...base, src: RIPS[1]!, dst: RIPS[0]!, sport: 8080, dport: 8080 });
    const back = frameOf({ ...base, src: RIPS[0]!, dst: RIPS[1]!, sport: 8080, dport: 8080 });
    expect(sharesOf(fwd)).toEqual([0, 1]);
    expect(sharesOf(back)).toEqual([0, 1]);
    expect(skips.some((skip) => skip(fwd) || skip(back))).toBe(false);
  });

  it('a packet, its reply and its NAT-rewritten copies are in the same share', () => {
    const client = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 }));
    fc.assert(
      fc.property(client, fc.integer({ min: 1024, max: 65535 }), fc.constantFrom(...RIPS), fc.boolean(), (cl, cport, rip, vlan) => {
        const base = { proto: 6 as const, vlan, ihlWords: 5, frag: 0, cut: 0, junk: -1 };
        const copies = [
          frameOf({ ...base, src: cl, dst: VIP, sport: cport, dport: 80 }),
          frameOf({ ...base, src: cl, dst: rip, sport: cport, dport: 8080 }),
          frameOf({ ...base, src: rip, dst: cl, sport: 8080, dport: cport }),
          frameOf({ ...base, src: VIP, dst: cl, sport: 80, dport: cport }),
        ];
        const shares = copies.map((f) => sharesOf(f)[0]);
        expect(new Set(shares).size).toBe(1);
      }),
      { numRuns: 1000 },
    );
  });

  it('the raw-frame skip never drops a frame its share would keep, on clean and damaged frames', () => {
    let skipped = 0;
    fc.assert(
      fc.property(fc.oneof(clean, damaged), (s) => {
        const f = frameOf(s);
        for (let i = 0; i < specs.length; i++) {
          if (!skips[i]!(f)) continue;
          skipped++;
          expect(filters[i]!(decoder.decode(f))).toBe(false);
        }
      }),
      { numRuns: 4000 },
    );
    // The check is not vacuous: clean TCP frames of the other share are skipped.
    expect(skipped).toBeGreaterThan(500);
  });

  it('frames the skip must leave to the decoder: UDP, fragments, cut headers, other link types', () => {
    const s: Spec = { src: [198, 51, 100, 7], dst: VIP, sport: 40000, dport: 80, proto: 6, vlan: false, ihlWords: 5, frag: 0, cut: 0, junk: -1 };
    // Which share the client is in: the other one skips its clean TCP frame.
    const own = sharesOf(frameOf(s))[0]!;
    const other = skips[1 - own]!;
    expect(other(frameOf(s))).toBe(true);
    expect(other(frameOf({ ...s, proto: 17 }))).toBe(false);
    expect(other(frameOf({ ...s, frag: 0x2000 }))).toBe(false);
    expect(other(frameOf({ ...s, frag: 0x0001 }))).toBe(false);
    expect(other(frameOf({ ...s, cut: 10 }))).toBe(false);
    expect(other({ ...frameOf(s), linkType: LinkType.LINUX_SLL })).toBe(false);
    expect(skips[own]!(frameOf(s))).toBe(false);
  });
});
