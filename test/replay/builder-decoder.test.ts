/**
 * Round trip builder → decoder (src/decode/decoder.ts): every field a spec set must come back out
 * of the decoded Packet view, including TOA. Expected values come from the specs (the plan), with
 * the decoder's documented option rules (last MSS/WS/TS/SACK wins, first TOA wins, a kind 253/254
 * option with ExID 0xF989 on a SYN is TCP Fast Open, not TOA).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBytes } from '../../src/decode/decoder.js';
import type { NetLayers, Packet } from '../../src/decode/packet.js';
import { parseIpv4, parseIpv6 } from '../../src/decode/addr.js';
import { PacketBuilder, parseTcpFlags, fragmentIpv4, type TcpOption, type TcpSpec, LinkType } from '../../src/replay/builder/index.js';
import { arbPlan, planToBuilder, type IpChoice, type PacketPlan } from './builder-arbitraries.js';

const TOA_KINDS = [254, 253, 200, 252];

function ipBytesAt(p: Packet, off: number, v: 4 | 6): Buffer {
  return p.buf.subarray(off, off + (v === 4 ? 4 : 16));
}

function expectIp(L: NetLayers, ip: IpChoice, p: Packet): void {
  const s = ip.s;
  if (ip.t === 'ipv4') {
    const v4 = ip.s;
    expect(L.ip.version).toBe(4);
    expect(L.ip.src4).toBe(parseIpv4(v4.src));
    expect(L.ip.dst4).toBe(parseIpv4(v4.dst));
    expect(L.ip.ttl).toBe(v4.ttl ?? 64);
    expect(L.ip.tos).toBe(v4.tos ?? 0);
    expect(L.ip.id).toBe(v4.id ?? 0);
    expect(L.ip.df).toBe(v4.df ?? false);
    expect(L.ip.checksumOk).toBe(true);
    expect(L.ip.isFragment).toBe(false);
  } else {
    const v6 = ip.s;
    expect(L.ip.version).toBe(6);
    expect(ipBytesAt(p, L.ip.srcOff, 6).equals(parseIpv6(v6.src)!)).toBe(true);
    expect(ipBytesAt(p, L.ip.dstOff, 6).equals(parseIpv6(v6.dst)!)).toBe(true);
    expect(L.ip.ttl).toBe(v6.hlim ?? 64);
    expect(L.ip.tos).toBe(v6.tc ?? 0);
    expect(L.ip.flowLabel).toBe(v6.flowLabel ?? 0);
  }
  expect(s.src).toBeDefined();
}

interface ExpectedTcpOpts {
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  ts: [number, number] | null;
  sack: [number, number][];
  toa: { kind: number; len: number; port: number; index: number; addr: string } | null;
}

/** What the decoder should report for these options (its rules, from the spec list alone). */
function expectedOptions(opts: readonly TcpOption[], flags: number): ExpectedTcpOpts {
  const e: ExpectedTcpOpts = { mss: -1, wscale: -1, sackPermitted: false, ts: null, sack: [], toa: null };
  opts.forEach((o, index) => {
    if (o.kind === 'mss') e.mss = o.value;
    else if (o.kind === 'ws') e.wscale = o.shift;
    else if (o.kind === 'sackPermitted') e.sackPermitted = true;
    else if (o.kind === 'ts') e.ts = [o.val, o.ecr];
    else if (o.kind === 'sack') e.sack = o.blocks.slice(0, 4);
    else if (o.kind === 'toa' && e.toa === null) {
      const v6 = o.addr.includes(':');
      const kind = o.optKind ?? (v6 ? 253 : 254);
      const len = v6 ? 20 : 8;
      const tfo = (kind === 253 || kind === 254) && o.port === 0xf989 && (flags & 0x02) !== 0;
      if (TOA_KINDS.includes(kind) && !tfo) e.toa = { kind, len, port: o.port, index, addr: o.addr };
    }
  });
  return e;
}

function expectTcp(L: NetLayers, s: TcpSpec, payloadLen: number, p: Packet): void {
  const t = L.tcp;
  const flags = parseTcpFlags(s.flags);
  expect(L.l4).toBe('tcp');
  expect(t.present).toBe(true);
  expect(t.sport).toBe(s.sport);
  expect(t.dport).toBe(s.dport);
  expect(t.seq).toBe(s.seq ?? 0);
  expect(t.ack).toBe(s.ack ?? 0);
  expect(t.flags).toBe(flags);
  expect(t.window).toBe(s.window ?? 64240);
  expect(t.urgent).toBe(s.urgent ?? 0);
  expect(t.checksumOk).toBe(true);
  expect(t.payloadLen).toBe(payloadLen);
  const e = expectedOptions(s.options ?? [], flags);
  expect(t.mss).toBe(e.mss);
  expect(t.wscale).toBe(e.wscale);
  expect(t.sackPermitted).toBe(e.sackPermitted);
  expect(t.tsPresent).toBe(e.ts !== null);
  if (e.ts) expect([t.tsVal, t.tsEcr]).toEqual(e.ts);
  expect(t.sackCount).toBe(e.sack.length);
  e.sack.forEach(([l, r], i) => expect([t.sackLeft[i], t.sackRight[i]]).toEqual([l, r]));
  // Every generated option is listed in wire order (padding EOL after them may add one more entry).
  const kinds = Array.from(t.optKind.subarray(0, t.optCount));
  const want = (s.options ?? []).map((o) => (o.kind === 'toa' ? (o.optKind ?? (o.addr.includes(':') ? 253 : 254)) : ({ mss: 2, ws: 3, sackPermitted: 4, sack: 5, ts: 8, nop: 1, eol: 0 } as Record<string, number>)[o.kind]!));
  expect(kinds.slice(0, want.length)).toEqual(want);
  if (e.toa === null) {
    expect(t.toaKind).toBe(0);
  } else {
    expect(t.toaKind).toBe(e.toa.kind);
    expect(t.toaLen).toBe(e.toa.len);
    expect(t.toaPort).toBe(e.toa.port);
    expect(t.toaIndex).toBe(e.toa.index);
    if (e.toa.len === 8) {
      expect(t.toaFamily).toBe(4);
      expect(t.toaAddr4).toBe(parseIpv4(e.toa.addr));
    } else {
      expect(t.toaFamily).toBe(6);
      expect(p.buf.subarray(t.toaAddrOff, t.toaAddrOff + 16).equals(parseIpv6(e.toa.addr)!)).toBe(true);
    }
  }
}

function linkTypeOf(plan: PacketPlan): number {
  return plan.link === 'eth' ? LinkType.ETHERNET : plan.link === 'sll' ? LinkType.LINUX_SLL : LinkType.RAW;
}

describe('builder → decoder round trip', () => {
  it('random packets: link, VLANs, IP, tunnel, TCP (options + TOA) / UDP / ICMP fields come back', () => {
    fc.assert(
      fc.property(arbPlan, (plan) => {
        const bytes = planToBuilder(plan).build();
        const p = decodeBytes(bytes, linkTypeOf(plan), { toaKinds: TOA_KINDS, guePorts: [] });
        expect(p.malformed.present ? p.malformed.reason : null).toBeNull();
        expect(p.truncated).toBeNull();
        if (plan.link === 'eth') {
          expect(p.eth.present).toBe(true);
          expect(p.vlan.count).toBe(plan.vlans.length);
          plan.vlans.forEach((v, i) => {
            expect(p.vlan.id[i]).toBe(v.id);
            expect(p.vlan.pcp[i]).toBe(v.pcp ?? 0);
            expect(p.vlan.dei[i]).toBe(v.dei ? 1 : 0);
            expect(p.vlan.tpid[i]).toBe(plan.vlans.length > 1 && i === 0 ? 0x88a8 : 0x8100);
          });
        }
        if (plan.link === 'sll') expect(p.sll.present).toBe(true);
        expectIp(p.net, plan.outer, p);
        const last = plan.tunnel ? plan.inner : plan.outer;
        if (plan.tunnel) {
          const v4o = plan.outer.t === 'ipv4';
          const v4i = plan.inner.t === 'ipv4';
          expect(p.tunnel).toBe(plan.tunnel === 'gre' ? 'gre' : v4o ? (v4i ? 'ipip' : 'sit') : v4i ? 'ip6ip' : 'ip6ip6');
          expectIp(p.inner, plan.inner, p);
        } else {
          expect(p.tunnel).toBeNull();
        }
        const L = p.transport;
        const n = plan.payload.length;
        if (plan.l4.t === 'tcp') expectTcp(L, plan.l4.s, n, p);
        else if (plan.l4.t === 'udp') {
          expect(L.l4).toBe('udp');
          expect([L.udp.sport, L.udp.dport, L.udp.length, L.udp.payloadLen]).toEqual([plan.l4.s.sport, plan.l4.s.dport, 8 + n, n]);
          expect(L.udp.checksumOk).toBe(true);
        } else {
          expect(L.l4).toBe(last.t === 'ipv4' ? 'icmp' : 'icmpv6');
          expect([L.icmp.type, L.icmp.code, L.icmp.echoId, L.icmp.echoSeq]).toEqual([plan.l4.s.type, 0, plan.l4.s.id, plan.l4.s.seq]);
          expect(L.icmp.checksumOk).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('ARP request, reply, gratuitous and probe', () => {
    const mk = (op: 1 | 2, spa: string, tpa: string): Packet =>
      decodeBytes(
        PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op, sha: '02:00:00:00:00:01', spa, tha: '00:00:00:00:00:00', tpa }).build(),
        LinkType.ETHERNET,
      );
    const req = mk(1, '10.0.0.2', '10.0.0.1');
    expect([req.arp.present, req.arp.isEthIpv4, req.arp.op, req.arp.spa, req.arp.tpa, req.arp.gratuitous]).toEqual([true, true, 1, parseIpv4('10.0.0.2'), parseIpv4('10.0.0.1'), false]);
    expect(req.buf.subarray(req.arp.shaOff, req.arp.shaOff + 6).toString('hex')).toBe('020000000001');
    expect(mk(2, '10.0.0.1', '10.0.0.2').arp.op).toBe(2);
    expect(mk(1, '192.168.0.100', '192.168.0.100').arp.gratuitous).toBe(true);
    expect(mk(2, '192.168.0.100', '192.168.0.100').arp.gratuitous).toBe(true);
    expect(mk(1, '0.0.0.0', '10.0.0.9').arp.probe).toBe(true);
  });

  it('ICMP errors: frag-needed mtu and the quoted packet (from layers, and a cut quote)', () => {
    const quote = PacketBuilder.raw().ipv4({ src: '192.168.0.100', dst: '10.0.0.2' }).tcp({ sport: 80, dport: 40000, seq: 77, flags: 'PA' }).payload(Buffer.alloc(1000)).build();
    const cut = decodeBytes(
      PacketBuilder.raw().ipv4({ src: '10.0.0.254', dst: '192.168.0.100' }).icmp({ type: 3, code: 4, mtu: 1400, quote, quoteLen: 28 }).build(),
      LinkType.RAW,
    );
    expect([cut.net.icmp.type, cut.net.icmp.code, cut.net.icmp.mtu, cut.net.icmp.checksumOk, cut.net.icmp.hasQuoted]).toEqual([3, 4, 1400, true, true]);
    expect(cut.quoted.ip.src4).toBe(parseIpv4('192.168.0.100'));
    expect(cut.quoted.ip.totalLen).toBe(1040);
    expect([cut.quoted.tcp.sport, cut.quoted.tcp.dport, cut.quoted.tcp.seq]).toEqual([80, 40000, 77]);
    expect(cut.malformed.present).toBe(false);
    const v6 = decodeBytes(
      PacketBuilder.raw()
        .ipv6({ src: '2001:db8::fe', dst: '2001:db8:1::100' })
        .icmpv6({ type: 2, code: 0, mtu: 1280 })
        .ipv6({ src: '2001:db8:1::100', dst: '2001:db8::2' })
        .udp({ sport: 53, dport: 5353 })
        .payload('x')
        .build(),
      LinkType.RAW,
    );
    expect([v6.net.icmp.type, v6.net.icmp.mtu, v6.net.icmp.checksumOk]).toEqual([2, 1280, true]);
    expect([v6.quoted.udp.sport, v6.quoted.udp.dport]).toEqual([53, 5353]);
  });

  it('GUE on the default port 6080 with a zero UDP checksum; GRE with key and checksum', () => {
    const gue = decodeBytes(
      PacketBuilder.raw().ipv4({ src: '172.16.0.1', dst: '172.16.0.10' }).gue({ dport: 6080 }).ipv4({ src: '10.0.0.2', dst: '192.168.0.100' }).tcp({ sport: 1, dport: 80, flags: 'S' }).build(),
      LinkType.RAW,
    );
    expect(gue.tunnel).toBe('gue');
    expect(gue.net.udp.checksum).toBe(0);
    expect(gue.transport.tcp.dport).toBe(80);
    expect(gue.inner.ip.dst4).toBe(parseIpv4('192.168.0.100'));
    const gre = decodeBytes(
      PacketBuilder.raw().ipv4({ src: '172.16.0.1', dst: '172.16.0.10' }).gre({ key: 7, checksum: true, seq: 9 }).ipv6({ src: '2001:db8::2', dst: '2001:db8::100' }).tcp({ sport: 1, dport: 80, flags: 'S' }).build(),
      LinkType.RAW,
    );
    expect(gre.tunnel).toBe('gre');
    expect(gre.inner.ip.version).toBe(6);
    expect(gre.transport.tcp.checksumOk).toBe(true);
  });

  it('IPv4 fragments and options; IPv6 extension headers and fragment header; Linux SLL2', () => {
    const whole = PacketBuilder.raw().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', id: 31, options: Buffer.from([0x94, 4, 0, 0]) }).udp({ sport: 1, dport: 2 }).payload(Buffer.alloc(3000)).build();
    const frags = fragmentIpv4(whole, 1500).map((f) => decodeBytes(f, LinkType.RAW));
    expect(frags.map((f) => [f.net.ip.isFragment, f.net.ip.mf, f.net.ip.fragOffset, f.net.ip.id, f.net.ip.checksumOk])).toEqual([
      [true, true, 0, 31, true],
      [true, true, 1472, 31, true],
      [true, false, 2944, 31, true],
    ]);
    expect(frags[0]!.net.ip.optionsLen).toBe(4);
    expect(frags[1]!.net.ip.optionsLen).toBe(4); // router alert (0x94) has the copy bit: repeated in every fragment
    const ext = decodeBytes(
      PacketBuilder.raw()
        .ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ext: [{ kind: 'hop' }, { kind: 'dest' }, { kind: 'fragment', offset: 0, mf: true, id: 0xabcdef }] })
        .tcp({ sport: 1, dport: 2, flags: 'S' })
        .build(),
      LinkType.RAW,
    );
    expect([ext.net.ip.proto, ext.net.ip.isFragment, ext.net.ip.id, ext.net.ip.hdrLen]).toEqual([6, true, 0xabcdef, 40 + 8 + 8 + 8]);
    const sll2 = decodeBytes(PacketBuilder.sll({ version: 2, pktType: 4, ifIndex: 5 }).ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ sport: 1, dport: 2 }).build(), LinkType.LINUX_SLL2);
    expect([sll2.sll.present, sll2.sll.version, sll2.sll.ifIndex, sll2.sll.pktType, sll2.direction]).toEqual([true, 2, 5, 4, 'out']);
    expect(sll2.net.udp.checksumOk).toBe(true);
  });

  it('TOA: Alibaba v6 (253/20), DPVS NAT64 (254/20 in IPv4), after other options, and forced bad checksums are seen as bad', () => {
    const v6 = decodeBytes(
      PacketBuilder.raw().ipv6({ src: '2001:db8::5', dst: '2001:db8::6' }).tcp({ sport: 1, dport: 80, flags: 'A', options: [{ kind: 'toa', addr: '2001:db8::2', port: 40000 }] }).build(),
      LinkType.RAW,
    );
    expect([v6.net.tcp.toaKind, v6.net.tcp.toaLen, v6.net.tcp.toaFamily, v6.net.tcp.toaPort, v6.net.tcp.toaIndex, v6.net.tcp.hdrLen]).toEqual([253, 20, 6, 40000, 0, 40]);
    const nat64 = decodeBytes(
      PacketBuilder.raw().ipv4({ src: '10.0.0.5', dst: '10.0.0.6' }).tcp({ sport: 1, dport: 80, flags: 'A', options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: 1, ecr: 2 }, { kind: 'toa', addr: '2001:db8::2', port: 40000, optKind: 254 }] }).build(),
      LinkType.RAW,
    );
    expect([nat64.net.tcp.toaKind, nat64.net.tcp.toaFamily, nat64.net.tcp.toaIndex, nat64.net.tcp.tsVal]).toEqual([254, 6, 3, 1]);
    const bad = decodeBytes(PacketBuilder.raw().ipv4({ src: '10.0.0.5', dst: '10.0.0.6', checksum: 1 }).tcp({ sport: 1, dport: 80, flags: 'S', checksum: 2 }).build(), LinkType.RAW);
    expect([bad.net.ip.checksumOk, bad.net.tcp.checksumOk]).toEqual([false, false]);
  });
});
