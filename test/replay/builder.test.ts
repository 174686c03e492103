/**
 * Builder properties checked with the test's own arithmetic (a separate checksum loop and offsets
 * derived from the plan, not from the builder): lengths, checksums, option placement, in-place
 * checksum repair, fragmentation, describe() text and the errors on misuse.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  PacketBuilder,
  fragmentIpv4,
  fragmentIpv6,
  recomputeIpv4Checksum,
  recomputeL4Checksum,
  updateChecksumIncremental,
  encodeTcpOptions,
  parseTcpFlags,
  LinkType,
  type TcpOption,
} from '../../src/replay/builder/index.js';
import { arbPlan, planToBuilder, arbTcpOptions, arbIpv4, arbIpv6, type PacketPlan, type IpChoice } from './builder-arbitraries.js';
import { parseIpv4, parseIpv6 } from '../../src/decode/addr.js';

/** Plain RFC 1071 sum, written here so the oracle does not share code with the builder. */
function onesSum(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (s > 0xffff) s = (s >>> 16) + (s & 0xffff);
  return s;
}
const verifies = (...parts: Uint8Array[]): boolean => onesSum(Buffer.concat(parts)) === 0xffff;

function pseudo(ip: IpChoice, proto: number, len: number): Buffer {
  if (ip.t === 'ipv4') {
    const b = Buffer.alloc(12);
    b.writeUInt32BE(parseIpv4(ip.s.src)!, 0);
    b.writeUInt32BE(parseIpv4(ip.s.dst)!, 4);
    b[9] = proto;
    b.writeUInt16BE(len, 10);
    return b;
  }
  const b = Buffer.alloc(40);
  parseIpv6(ip.s.src)!.copy(b, 0);
  parseIpv6(ip.s.dst)!.copy(b, 16);
  b.writeUInt32BE(len, 32);
  b[39] = proto;
  return b;
}

function linkLen(p: PacketPlan): number {
  return p.link === 'eth' ? 14 + 4 * p.vlans.length : p.link === 'sll' ? 16 : 0;
}

/** Expected option bytes, written out by hand per kind (independent of the builder's encoder). */
function optBytes(o: TcpOption): number[] {
  const be = (v: number, n: number): number[] => Array.from({ length: n }, (_, i) => (v >>> (8 * (n - 1 - i))) & 255);
  switch (o.kind) {
    case 'mss':
      return [2, 4, ...be(o.value, 2)];
    case 'ws':
      return [3, 3, o.shift];
    case 'sackPermitted':
      return [4, 2];
    case 'sack':
      return [5, 2 + 8 * o.blocks.length, ...o.blocks.flatMap(([l, r]) => [...be(l, 4), ...be(r, 4)])];
    case 'ts':
      return [8, 10, ...be(o.val, 4), ...be(o.ecr, 4)];
    case 'nop':
      return [1];
    case 'eol':
      return [0];
    case 'toa': {
      const v6 = o.addr.includes(':');
      const addr = v6 ? [...parseIpv6(o.addr)!] : be(parseIpv4(o.addr)!, 4);
      return [o.optKind ?? (v6 ? 253 : 254), v6 ? 20 : 8, ...be(o.port, 2), ...addr];
    }
    default:
      throw new Error('not generated');
  }
}

describe('PacketBuilder: lengths and checksums (own recompute)', () => {
  it('random valid plans build, and every length / checksum is consistent', () => {
    fc.assert(
      fc.property(arbPlan, (p) => {
        const b = planToBuilder(p);
        const bytes = b.build();
        expect(b.linkType).toBe(p.link === 'eth' ? LinkType.ETHERNET : p.link === 'sll' ? LinkType.LINUX_SLL : LinkType.RAW);
        let off = linkLen(p);
        const stacks: IpChoice[] = p.tunnel ? [p.outer, p.inner] : [p.outer];
        for (let k = 0; k < stacks.length; k++) {
          const ip = stacks[k]!;
          const ipLen = bytes.length - off;
          if (ip.t === 'ipv4') {
            expect(bytes[off]).toBe(0x45);
            expect(bytes.readUInt16BE(off + 2)).toBe(ipLen);
            expect(verifies(bytes.subarray(off, off + 20))).toBe(true);
            off += 20;
          } else {
            expect(bytes[off]! >> 4).toBe(6);
            expect(bytes.readUInt16BE(off + 4)).toBe(ipLen - 40);
            off += 40;
          }
          if (k === 0 && p.tunnel === 'gre') {
            expect(bytes.readUInt16BE(off + 2)).toBe(p.inner.t === 'ipv4' ? 0x0800 : 0x86dd);
            off += 4;
          }
        }
        const ip = stacks[stacks.length - 1]!;
        const seg = bytes.subarray(off);
        const payload = Buffer.from(p.payload);
        if (p.l4.t === 'tcp') {
          const opts = (p.l4.s.options ?? []).flatMap(optBytes);
          const padded = Math.ceil(opts.length / 4) * 4;
          expect(seg[12]! >> 4).toBe((20 + padded) / 4);
          expect([...seg.subarray(20, 20 + opts.length)]).toEqual(opts);
          expect([...seg.subarray(20 + opts.length, 20 + padded)].every((x) => x === 0)).toBe(true);
          expect(seg.subarray(20 + padded).equals(payload)).toBe(true);
          expect(verifies(pseudo(ip, 6, seg.length), seg)).toBe(true);
        } else if (p.l4.t === 'udp') {
          expect(seg.readUInt16BE(4)).toBe(seg.length);
          expect(seg.readUInt16BE(6)).not.toBe(0);
          expect(verifies(pseudo(ip, 17, seg.length), seg)).toBe(true);
        } else if (ip.t === 'ipv4') {
          expect(seg[0]).toBe(p.l4.s.type);
          expect(verifies(seg)).toBe(true);
        } else {
          expect(seg[0]).toBe(p.l4.s.type);
          expect(verifies(pseudo(ip, 58, seg.length), seg)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('TCP options: data offset follows the padded option length, padding mode is honoured', () => {
    fc.assert(
      fc.property(arbTcpOptions, fc.constantFrom<'eol' | 'nop'>('eol', 'nop'), (opts, pad) => {
        const raw = opts.flatMap(optBytes);
        const enc = encodeTcpOptions(opts, pad);
        expect(enc.length % 4).toBe(0);
        expect([...enc.subarray(0, raw.length)]).toEqual(raw);
        expect([...enc.subarray(raw.length)].every((x) => x === (pad === 'nop' ? 1 : 0))).toBe(true);
      }),
    );
  });

  it('forced values are written as given (bad-checksum and bad-length fixtures)', () => {
    const b = PacketBuilder.raw()
      .ipv4({ src: '10.0.0.1', dst: '10.0.0.2', checksum: 0x1234, totalLength: 999 })
      .tcp({ sport: 1, dport: 2, flags: 'S', checksum: 0xabcd, dataOffset: 15 })
      .build();
    expect(b.readUInt16BE(10)).toBe(0x1234);
    expect(b.readUInt16BE(2)).toBe(999);
    expect(b.readUInt16BE(20 + 16)).toBe(0xabcd);
    expect(b[20 + 12]! >> 4).toBe(15);
    const u = PacketBuilder.raw().ipv6({ src: '::1', dst: '::2', payloadLength: 3 }).udp({ sport: 1, dport: 2, length: 4, checksum: 0x77 }).build();
    expect(u.readUInt16BE(4)).toBe(3);
    expect(u.readUInt16BE(40 + 4)).toBe(4);
    expect(u.readUInt16BE(40 + 6)).toBe(0x77);
  });

  it("pad: 'none' leaves options unaligned and rounds the data offset up (malformed on purpose)", () => {
    const b = PacketBuilder.raw().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp({ sport: 1, dport: 2, flags: 'A', options: [{ kind: 'ws', shift: 2 }], pad: 'none' }).payload('XY').build();
    expect(b[20 + 12]! >> 4).toBe(6);
    expect([...b.subarray(40, 43)]).toEqual([3, 3, 2]);
    expect(b.subarray(43).toString()).toBe('XY');
  });

  it('a UDP checksum that computes to 0 is sent as 0xffff', () => {
    // Search a payload word that makes the sum come out 0: the checksum field then must read 0xffff.
    const base = PacketBuilder.raw().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ sport: 1, dport: 2 });
    const zeroPayload = Buffer.alloc(2);
    const c0 = base.clone().payload(zeroPayload).build().readUInt16BE(26);
    // Adding word w to the data lowers the checksum by w (ones' complement): pick w = c0.
    zeroPayload.writeUInt16BE(c0, 0);
    const pkt = base.clone().payload(zeroPayload).build();
    expect(pkt.readUInt16BE(26)).toBe(0xffff);
    expect(verifies(pseudo({ t: 'ipv4', s: { src: '10.0.0.1', dst: '10.0.0.2' } }, 17, 10), pkt.subarray(20))).toBe(true);
  });

  it('flags: letters, tcpdump dot and numbers', () => {
    expect(parseTcpFlags('S')).toBe(0x02);
    expect(parseTcpFlags('SA')).toBe(0x12);
    expect(parseTcpFlags('S.')).toBe(0x12);
    expect(parseTcpFlags('FA')).toBe(0x11);
    expect(parseTcpFlags('RA')).toBe(0x14);
    expect(parseTcpFlags('N')).toBe(0x100);
    expect(parseTcpFlags(0x18)).toBe(0x18);
    expect(() => parseTcpFlags('SX')).toThrow(/unknown TCP flag/);
  });

  it('misuse throws: bad addresses, oversized options, wrong layer order, unaligned fragment offset', () => {
    expect(() => PacketBuilder.raw().ipv4({ src: '10.0.0.300', dst: '1.1.1.1' }).build()).toThrow(/IPv4/);
    expect(() => PacketBuilder.eth({ src: 'zz', dst: '02:00:00:00:00:01' }).build()).toThrow(/MAC/);
    const many: TcpOption[] = Array.from({ length: 5 }, () => ({ kind: 'ts', val: 1, ecr: 2 }));
    expect(() => PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 1, dport: 2, flags: 'S', options: many }).build()).toThrow(/40 bytes/);
    expect(() => PacketBuilder.raw().tcp({ sport: 1, dport: 2, flags: 'S' })).toThrow(/cannot follow/);
    expect(() => PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }).tcp({ sport: 1, dport: 2, flags: 'S' })).toThrow(/cannot follow/);
    expect(() => PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', fragOffset: 5 }).build()).toThrow(/multiple of 8/);
    expect(() => PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 70000, dport: 2, flags: 'S' }).build()).toThrow(/sport/);
  });
});

describe('checksum-fix: in-place repair', () => {
  it('restores corrupted IPv4 / TCP / UDP / ICMP / ICMPv6 checksums to what the builder computed', () => {
    fc.assert(
      fc.property(arbPlan, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (p, junk1, junk2) => {
        fc.pre(p.tunnel === null);
        const good = planToBuilder(p).build();
        const ipOff = linkLen(p);
        const bad = Buffer.from(good);
        const l4Off = ipOff + (p.outer.t === 'ipv4' ? 20 : 40);
        const field = p.l4.t === 'tcp' ? 16 : p.l4.t === 'udp' ? 6 : 2;
        bad.writeUInt16BE(junk2 || 1, l4Off + field);
        if (p.outer.t === 'ipv4') bad.writeUInt16BE(junk1, ipOff + 10);
        expect(recomputeIpv4Checksum(bad, ipOff)).toBe(p.outer.t === 'ipv4');
        const kind = recomputeL4Checksum(bad, ipOff);
        expect(kind).toBe(p.l4.t === 'icmp' ? (p.outer.t === 'ipv4' ? 'icmp' : 'icmpv6') : p.l4.t);
        expect(bad.equals(good)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('after a NAT-style address rewrite the repaired packet equals one built with the new addresses', () => {
    fc.assert(
      fc.property(arbIpv4, arbIpv4, arbIpv6, (rip, lip, rip6) => {
        const mk = (src: string, dst: string): Buffer =>
          PacketBuilder.raw().ipv4({ src, dst }).tcp({ sport: 40000, dport: 80, seq: 5, flags: 'PA', options: [{ kind: 'toa', addr: '10.0.0.2', port: 40000 }] }).payload('data').build();
        const before = mk('10.0.0.2', '192.168.0.100');
        before.writeUInt32BE(parseIpv4(lip)!, 12);
        before.writeUInt32BE(parseIpv4(rip)!, 16);
        recomputeIpv4Checksum(before, 0);
        recomputeL4Checksum(before, 0);
        expect(before.equals(mk(lip, rip))).toBe(true);
        const mk6 = (dst: string): Buffer => PacketBuilder.raw().ipv6({ src: '2001:db8::1', dst }).udp({ sport: 1, dport: 2 }).payload('x').build();
        const b6 = mk6('2001:db8::2');
        parseIpv6(rip6)!.copy(b6, 24);
        recomputeL4Checksum(b6, 0);
        expect(b6.equals(mk6(rip6))).toBe(true);
      }),
    );
  });

  it('RFC 1624 incremental update after a DNAT gives the full recompute, and keeps a bad checksum bad', () => {
    fc.assert(
      fc.property(arbIpv4, arbIpv4, fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xfffe }), (vip, rip, rport, skew) => {
        const mk = (dst: string, dport: number, ipCk?: number, tcpCk?: number): Buffer =>
          PacketBuilder.raw().ipv4({ src: '10.0.0.2', dst, checksum: ipCk }).tcp({ sport: 40000, dport, seq: 1, flags: 'S', checksum: tcpCk }).payload('x').build();
        const pkt = mk(vip, 80);
        const good = Buffer.from(pkt);
        // Rewrite VIP:80 → RIP:rport the way IPVS NAT does: field by field, checksums adjusted.
        const oldDst = Buffer.from(pkt.subarray(16, 20));
        const newDst = Buffer.alloc(4);
        newDst.writeUInt32BE(parseIpv4(rip)!, 0);
        const oldPort = Buffer.from(pkt.subarray(22, 24));
        const newPort = Buffer.from([rport >> 8, rport & 255]);
        const rewrite = (b: Buffer): void => {
          newDst.copy(b, 16);
          newPort.copy(b, 22);
          updateChecksumIncremental(b, 10, oldDst, newDst);
          updateChecksumIncremental(b, 36, oldDst, newDst); // pseudo-header
          updateChecksumIncremental(b, 36, oldPort, newPort);
        };
        rewrite(good);
        expect(good.equals(mk(rip, rport))).toBe(true);
        // A TCP checksum off by `skew` before the rewrite is still off after it (full recompute would hide that).
        const ck = pkt.readUInt16BE(36);
        const bad = Buffer.from(pkt);
        bad.writeUInt16BE((ck + skew) % 0xffff || 0xffff, 36);
        rewrite(bad);
        expect(verifies(pseudo({ t: 'ipv4', s: { src: '10.0.0.2', dst: rip } }, 6, bad.length - 20), bad.subarray(20))).toBe(false);
      }),
    );
  });

  it('keeps a zero UDP-over-IPv4 checksum at zero unless asked, skips fragments and cut packets', () => {
    const z = PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ sport: 1, dport: 2, checksum: 'zero' }).payload('a').build();
    expect(recomputeL4Checksum(z, 0)).toBe('udp');
    expect(z.readUInt16BE(26)).toBe(0);
    expect(recomputeL4Checksum(z, 0, { keepZeroUdp: false })).toBe('udp');
    expect(z.readUInt16BE(26)).not.toBe(0);
    const frag = PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', mf: true }).udp({ sport: 1, dport: 2, checksum: 0x1111 }).build();
    expect(recomputeL4Checksum(frag, 0)).toBeNull();
    expect(frag.readUInt16BE(26)).toBe(0x1111);
    const whole = PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 1, dport: 2, flags: 'S' }).build();
    expect(recomputeL4Checksum(whole.subarray(0, 30), 0)).toBeNull();
  });

  it('finds TCP behind IPv6 extension headers (hop-by-hop, destination, atomic fragment)', () => {
    const mk = (cks?: number): Buffer =>
      PacketBuilder.raw()
        .ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ext: [{ kind: 'hop' }, { kind: 'dest' }, { kind: 'fragment', offset: 0, mf: false, id: 7 }] })
        .tcp({ sport: 1, dport: 2, flags: 'S', checksum: cks })
        .build();
    const bad = mk(0x4242);
    expect(recomputeL4Checksum(bad, 0)).toBe('tcp');
    expect(bad.equals(mk())).toBe(true);
  });
});

describe('fragmentIpv4', () => {
  it('fragments fit the MTU, are 8-aligned, carry valid headers and reassemble to the original', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 68, max: 1500 }), fc.boolean(), (n, mtu, withOpts) => {
        // Record-route (not copied) + a copied option (0x88 stream id, len 4): later fragments keep only the latter.
        const options = withOpts ? Buffer.from([0x07, 0x07, 0x04, 0, 0, 0, 0, 0x01, 0x88, 0x04, 0x12, 0x34]) : undefined;
        const pkt = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
          .ipv4({ src: '10.0.0.1', dst: '10.0.0.2', id: 4242, options })
          .udp({ sport: 1, dport: 2 })
          .payload(Buffer.alloc(n, 0x5a))
          .build();
        const frags = fragmentIpv4(pkt, mtu, { ipOff: 14 });
        const hl = withOpts ? 32 : 20;
        const data = pkt.subarray(14 + hl);
        const rebuilt = Buffer.alloc(data.length);
        let seen = 0;
        frags.forEach((f, i) => {
          expect(f.subarray(0, 14).equals(pkt.subarray(0, 14))).toBe(true);
          const ip = f.subarray(14);
          const fhl = (ip[0]! & 15) * 4;
          expect(ip.readUInt16BE(2)).toBe(ip.length);
          expect(ip.length).toBeLessThanOrEqual(Math.max(mtu, frags.length === 1 ? ip.length : 0));
          expect(verifies(ip.subarray(0, fhl))).toBe(true);
          expect(ip.readUInt16BE(4)).toBe(4242);
          const word = ip.readUInt16BE(6);
          const last = i === frags.length - 1;
          expect((word & 0x2000) !== 0).toBe(!last && frags.length > 1);
          const offBytes = (word & 0x1fff) * 8;
          const piece = ip.subarray(fhl);
          if (!last) expect(piece.length % 8).toBe(0);
          if (withOpts && i > 0) expect([...ip.subarray(20, fhl)]).toEqual([0x88, 0x04, 0x12, 0x34]);
          piece.copy(rebuilt, offBytes);
          seen += piece.length;
        });
        expect(seen).toBe(data.length);
        expect(rebuilt.equals(data)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses DF packets unless told, keeps DF when told', () => {
    const pkt = PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', df: true }).udp({ sport: 1, dport: 2 }).payload(Buffer.alloc(2000)).build();
    expect(() => fragmentIpv4(pkt, 1500)).toThrow(/DF/);
    const f = fragmentIpv4(pkt, 1500, { ignoreDf: true });
    expect(f.length).toBe(2);
    expect(f.every((x) => (x.readUInt16BE(6) & 0x4000) !== 0)).toBe(true);
  });
});

describe('fragmentIpv6', () => {
  it('fragments fit the MTU, repeat the unfragmentable part, and reassemble to the original', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1280, max: 1500 }), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }), (n, mtu, hop, id) => {
        const whole = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
          .ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ext: hop ? [{ kind: 'hop' }] : [] })
          .tcp({ sport: 1, dport: 2, flags: 'PA' })
          .payload(Buffer.alloc(n, 0x77))
          .build();
        const frags = fragmentIpv6(whole, mtu, { ipOff: 14, id });
        const unfrag = 40 + (hop ? 8 : 0);
        const data = whole.subarray(14 + unfrag);
        if (whole.length - 14 <= mtu) {
          expect(frags).toEqual([whole]);
          return;
        }
        const rebuilt = Buffer.alloc(data.length);
        let seen = 0;
        frags.forEach((f, i) => {
          const ip = f.subarray(14);
          expect(ip.length).toBeLessThanOrEqual(mtu);
          expect(ip.readUInt16BE(4)).toBe(ip.length - 40);
          expect(ip.subarray(8, 40).equals(whole.subarray(14 + 8, 14 + 40))).toBe(true);
          // Next header chain: IPv6 → (hop →) fragment(44) → TCP(6)
          expect(hop ? [ip[6], ip[40]] : [ip[6]]).toEqual(hop ? [0, 44] : [44]);
          const fh = ip.subarray(unfrag, unfrag + 8);
          expect(fh[0]).toBe(6);
          expect(fh.readUInt32BE(4)).toBe(id);
          const word = fh.readUInt16BE(2);
          expect((word & 1) === 1).toBe(i < frags.length - 1);
          const piece = ip.subarray(unfrag + 8);
          if (i < frags.length - 1) expect(piece.length % 8).toBe(0);
          piece.copy(rebuilt, (word >> 3) * 8);
          seen += piece.length;
        });
        expect(seen).toBe(data.length);
        expect(rebuilt.equals(data)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe('describe()', () => {
  const eth = (): PacketBuilder => PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' });

  it('prints the brief example line exactly', () => {
    const line = eth()
      .vlan({ id: 10 })
      .ipv4({ src: '10.0.0.2', dst: '192.168.0.100' })
      .tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', options: [{ kind: 'mss', value: 1460 }, { kind: 'toa', addr: '10.0.0.2', port: 40000 }] })
      .describe();
    expect(line).toBe(
      'eth 02:00:00:00:00:01 > 02:00:00:00:00:02 vlan 10, IP 10.0.0.2.40000 > 192.168.0.100.80: Flags [S], seq 1000, win 64240, options [mss 1460,toa 10.0.0.2:40000], length 0',
    );
  });

  it('SYN-ACK, tunnels, ICMP errors, ARP, UDP and forced values read as tcpdump-like text', () => {
    expect(
      PacketBuilder.raw().ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).tcp({ sport: 80, dport: 1, seq: 5, ack: 6, flags: 'SA', options: [{ kind: 'toa', addr: '2001:db8::9', port: 7 }, { kind: 'ts', val: 1, ecr: 2 }] }).payload('abc').describe(),
    ).toBe('IP6 2001:db8::1.80 > 2001:db8::2.1: Flags [S.], seq 5, ack 6, win 64240, options [toa [2001:db8::9]:7,TS val 1 ecr 2], length 3');
    expect(
      PacketBuilder.raw().ipv4({ src: '172.16.0.1', dst: '172.16.0.10', ttl: 63 }).ipv4({ src: '10.0.0.2', dst: '192.168.0.100' }).udp({ sport: 1, dport: 2, checksum: 'zero' }).payload('xyz').describe(),
    ).toBe('IP (ttl 63) 172.16.0.1 > 172.16.0.10: IP 10.0.0.2.1 > 192.168.0.100.2: UDP, length 3, no cksum');
    expect(
      PacketBuilder.raw().ipv4({ src: '10.0.0.254', dst: '192.168.0.100' }).icmp({ type: 3, code: 4, mtu: 1400 }).ipv4({ src: '192.168.0.100', dst: '10.0.0.2', df: true }).tcp({ sport: 80, dport: 40000, flags: 'A', checksum: 0xdead }).describe(),
    ).toBe('IP 10.0.0.254 > 192.168.0.100: ICMP unreachable - need to frag, mtu 1400, length 48: IP (flags [DF]) 192.168.0.100.80 > 10.0.0.2.40000: Flags [.], seq 0, ack 0, win 64240, length 0, cksum 0xdead');
    expect(eth().arp({ op: 1, sha: '02:00:00:00:00:01', spa: '10.0.0.5', tha: '00:00:00:00:00:00', tpa: '10.0.0.5' }).describe()).toBe(
      'eth 02:00:00:00:00:01 > 02:00:00:00:00:02, ARP, Request who-has 10.0.0.5 tell 10.0.0.5 (gratuitous), length 28',
    );
    expect(eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).gre({ key: 5 }).ipv4({ src: '3.3.3.3', dst: '4.4.4.4', id: 9, mf: true, fragOffset: 16 }).payload(Buffer.alloc(8)).describe()).toBe(
      'eth 02:00:00:00:00:01 > 02:00:00:00:00:02, IP 1.1.1.1 > 2.2.2.2: GREv0, key=0x5, length 36: IP (id 9, offset 16, flags [+]) 3.3.3.3 > 4.4.4.4: ip-proto-253 8',
    );
  });
});

describe('arbitraries sanity', () => {
  it('generated IPv6 text round-trips through the address parser', () => {
    fc.assert(fc.property(arbIpv6, (a) => parseIpv6(a) !== null));
  });
});
