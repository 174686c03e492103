/**
 * Builder vs scapy: scapy must dissect every field a spec set, and scapy's own recomputation of
 * every length and checksum must give back exactly our bytes (see scapy-oracle.ts).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import fc from 'fast-check';
import { PacketBuilder, fragmentIpv4, LinkType } from '../../src/replay/builder/index.js';
import { need } from '../helpers/env.js';
import { scapyDissect, scapyPython, layer, type ScapyItem, type ScapyResult } from './scapy-oracle.js';
import { arbPacket } from './builder-arbitraries.js';

const hasScapy = scapyPython() !== null;
const MAC_C = '02:00:00:00:00:01';
const MAC_D = '02:00:00:00:00:02';
const CIP = '10.0.0.2';
const VIP = '192.168.0.100';
const CIP6 = '2001:db8::2';
const VIP6 = '2001:db8:1::100';

const eth = (): PacketBuilder => PacketBuilder.eth({ src: MAC_C, dst: MAC_D });

function tcpQuoted(): Buffer {
  return PacketBuilder.raw()
    .ipv4({ src: VIP, dst: CIP, df: true })
    .tcp({ sport: 80, dport: 40000, seq: 7, ack: 1001, flags: 'PA' })
    .payload(Buffer.alloc(1400, 0x61))
    .build();
}

/** The spot-check packets: name → builder. */
const spots: Record<string, PacketBuilder> = {
  tcp4Syn: eth()
    .vlan({ id: 10, pcp: 3 })
    .ipv4({ src: CIP, dst: VIP, id: 4321, df: true, ttl: 63, tos: 0x10 })
    .tcp({
      sport: 40000,
      dport: 80,
      seq: 1000,
      flags: 'S',
      window: 29200,
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sackPermitted' },
        { kind: 'ts', val: 123456, ecr: 0 },
        { kind: 'nop' },
        { kind: 'ws', shift: 7 },
        { kind: 'toa', addr: CIP, port: 40000 },
      ],
    }),
  tcp4Sack: eth()
    .ipv4({ src: '10.0.0.5', dst: '10.0.0.9' })
    .tcp({
      sport: 5000,
      dport: 80,
      seq: 0xfffffff0,
      ack: 77,
      flags: 'PA',
      options: [
        { kind: 'toa', addr: CIP, port: 40001 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'ts', val: 5, ecr: 6 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'sack', blocks: [[100, 200], [300, 400]] },
      ],
    })
    .payload('GET / HTTP/1.1\r\n\r\n'),
  tcp6Toa: eth()
    .ipv6({ src: '2001:db8:9::1', dst: '2001:db8:9::2', hlim: 63, flowLabel: 0x12345, tc: 0x20 })
    .tcp({ sport: 1234, dport: 8080, seq: 1, ack: 1, flags: 'A', options: [{ kind: 'toa', addr: CIP6, port: 40002 }] })
    .payload('hello'),
  tcp4Toa6Dpvs: eth()
    .ipv4({ src: '10.0.0.5', dst: '10.0.0.9' })
    .tcp({ sport: 1, dport: 80, seq: 9, ack: 9, flags: 'A', options: [{ kind: 'toa', addr: CIP6, port: 40003, optKind: 254 }] }),
  udp4: eth().ipv4({ src: CIP, dst: VIP }).udp({ sport: 5353, dport: 53 }).payload('query'),
  udp6: eth().ipv6({ src: CIP6, dst: VIP6 }).udp({ sport: 5353, dport: 53 }).payload('query6'),
  udp4Zero: eth().ipv4({ src: CIP, dst: VIP }).udp({ sport: 1, dport: 2, checksum: 'zero' }).payload('x'),
  icmpFragNeeded: eth().ipv4({ src: '10.0.0.254', dst: VIP }).icmp({ type: 3, code: 4, mtu: 1400, quote: tcpQuoted(), quoteLen: 548 }),
  icmpFragNeededLayers: eth()
    .ipv4({ src: '10.0.0.254', dst: VIP })
    .icmp({ type: 3, code: 4, mtu: 1400 })
    .ipv4({ src: VIP, dst: CIP })
    .tcp({ sport: 80, dport: 40000, seq: 5, ack: 6, flags: 'A' }),
  icmp6Ptb: eth()
    .ipv6({ src: '2001:db8::fe', dst: VIP6 })
    .icmpv6({ type: 2, code: 0, mtu: 1280 })
    .ipv6({ src: VIP6, dst: CIP6 })
    .tcp({ sport: 80, dport: 40000, seq: 5, ack: 6, flags: 'PA' })
    .payload(Buffer.alloc(1300, 0x62)),
  arpRequest: PacketBuilder.eth({ src: MAC_C, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: MAC_C, spa: '10.0.0.2', tha: '00:00:00:00:00:00', tpa: '10.0.0.1' }),
  arpReply: PacketBuilder.eth({ src: MAC_D, dst: MAC_C }).arp({ op: 2, sha: MAC_D, spa: '10.0.0.1', tha: MAC_C, tpa: '10.0.0.2' }),
  garp: PacketBuilder.eth({ src: MAC_D, dst: 'ff:ff:ff:ff:ff:ff', minLength: 60 }).arp({ op: 1, sha: MAC_D, spa: VIP, tha: 'ff:ff:ff:ff:ff:ff', tpa: VIP }),
  qinq: eth().vlan({ id: 100 }).vlan({ id: 200, pcp: 5, dei: true }).ipv4({ src: CIP, dst: VIP }).icmp({ type: 8, code: 0, id: 77, seq: 3 }).payload('ping'),
  ipip: eth()
    .ipv4({ src: '172.16.0.1', dst: '172.16.0.10', ttl: 63 })
    .ipv4({ src: CIP, dst: VIP, ttl: 63 })
    .tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', options: [{ kind: 'mss', value: 1460 }] }),
  sixIn4: eth().ipv4({ src: '172.16.0.1', dst: '172.16.0.10' }).ipv6({ src: CIP6, dst: VIP6 }).tcp({ sport: 1, dport: 80, flags: 'S' }),
  greKeyCsum: eth()
    .ipv4({ src: '172.16.0.1', dst: '172.16.0.10' })
    .gre({ key: 0x1234, checksum: true })
    .ipv4({ src: CIP, dst: VIP })
    .udp({ sport: 9, dport: 10 })
    .payload('in gre'),
  greV6: eth().ipv6({ src: '2001:db8:f::1', dst: '2001:db8:f::2' }).gre().ipv6({ src: CIP6, dst: VIP6 }).tcp({ sport: 4, dport: 80, flags: 'S' }),
  ipv4Options: eth()
    .ipv4({ src: CIP, dst: VIP, options: Buffer.from([0x94, 0x04, 0x00, 0x00, 0x07, 0x07, 0x04, 0, 0, 0, 0]) })
    .tcp({ sport: 2, dport: 80, flags: 'S' }),
  icmp6Ext: eth()
    .ipv6({ src: CIP6, dst: VIP6, ext: [{ kind: 'hop' }, { kind: 'dest', options: Buffer.from([0x1e, 0x02, 0xaa, 0xbb]) }] })
    .icmpv6({ type: 128, code: 0, id: 9, seq: 8 })
    .payload('echo6'),
  ndNs: PacketBuilder.eth({ src: MAC_C, dst: '33:33:ff:00:01:00' })
    .ipv6({ src: 'fe80::1', dst: 'ff02::1:ff00:100', hlim: 255 })
    .icmpv6({ type: 135, code: 0, nd: { target: VIP6, lladdr: MAC_C } }),
  ndNa: PacketBuilder.eth({ src: MAC_D, dst: MAC_C })
    .ipv6({ src: VIP6, dst: 'fe80::1', hlim: 255 })
    .icmpv6({ type: 136, code: 0, nd: { target: VIP6, solicited: true, override: true, lladdr: MAC_D } }),
  sll: PacketBuilder.sll({ pktType: 4, addr: MAC_C }).ipv4({ src: CIP, dst: VIP }).udp({ sport: 7, dport: 8 }).payload('sll'),
  sll2: PacketBuilder.sll({ version: 2, ifIndex: 3, addr: MAC_C }).ipv6({ src: CIP6, dst: VIP6 }).tcp({ sport: 7, dport: 8, flags: 'R' }),
  rawUrg: PacketBuilder.raw().ipv4({ src: CIP, dst: VIP }).tcp({ sport: 7, dport: 8, flags: 'PAUEC', urgent: 3 }).payload('urgent'),
  gue: eth()
    .ipv4({ src: '172.16.0.1', dst: '172.16.0.10' })
    .gue({ sport: 50000, dport: 6080 })
    .ipv4({ src: CIP, dst: VIP })
    .tcp({ sport: 40000, dport: 80, flags: 'S' }),
};

const fragSource = eth().ipv4({ src: CIP, dst: VIP, id: 999 }).udp({ sport: 1000, dport: 2000 }).payload(Buffer.alloc(3000, 0x33));
const frags = fragmentIpv4(fragSource.build(), 1500, { ipOff: 14 });

const badChecksum = eth().ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 2, flags: 'S', checksum: 0xbeef });

describe.skipIf(!need(hasScapy, 'python3 with scapy not installed'))('builder vs scapy (spot checks)', () => {
  const names = Object.keys(spots);
  const res = new Map<string, ScapyResult>();
  let fragRes: ScapyResult[] = [];
  let badRes: ScapyResult | undefined;

  beforeAll(() => {
    const items: ScapyItem[] = names.map((n) => ({ hex: spots[n]!.build().toString('hex'), link: spots[n]!.linkType }));
    items.push(...frags.map((f) => ({ hex: f.toString('hex'), link: LinkType.ETHERNET, ipOnly: true })));
    items[items.length - 1]!.defrag = frags.map((f) => f.subarray(14).toString('hex'));
    items.push({ hex: badChecksum.build().toString('hex'), link: LinkType.ETHERNET });
    const out = scapyDissect(items);
    names.forEach((n, i) => res.set(n, out[i]!));
    fragRes = out.slice(names.length, names.length + frags.length);
    badRes = out[out.length - 1];
  });

  it('scapy recomputes exactly our lengths and checksums for every spot packet', () => {
    for (const n of names) {
      const ours = spots[n]!.build().toString('hex');
      expect({ n, bytes: res.get(n)!.rebuilt }).toEqual({ n, bytes: ours });
    }
  });

  it('the oracle catches a wrong checksum (a forced bad TCP checksum is rebuilt differently)', () => {
    expect(badRes!.rebuilt).not.toEqual(badChecksum.build().toString('hex'));
    expect(layer(badRes!, 'TCP').chksum).toBe(0xbeef);
  });

  it('TCP v4 SYN: VLAN, IP fields, flags and MSS/SACK-perm/TS/NOP/WS/TOA(254,len 8) in order', () => {
    const r = res.get('tcp4Syn')!;
    expect(layer(r, 'Ether')).toMatchObject({ src: MAC_C, dst: MAC_D, type: 0x8100 });
    expect(layer(r, 'Dot1Q')).toMatchObject({ vlan: 10, prio: 3, type: 0x0800 });
    expect(layer(r, 'IP')).toMatchObject({ src: CIP, dst: VIP, id: 4321, flags: 'DF', ttl: 63, tos: 0x10, proto: 6 });
    expect(layer(r, 'TCP')).toMatchObject({ sport: 40000, dport: 80, seq: 1000, ack: 0, flags: 'S', window: 29200, dataofs: 12 });
    expect(layer(r, 'TCP').options).toEqual([
      ['MSS', 1460],
      ['SAckOK', ''],
      ['Timestamp', [123456, 0]],
      ['NOP', null],
      ['WScale', 7],
      // TOA: kind 254, then port 40000 (9c40) and 10.0.0.2
      [254, '9c400a000002'],
    ]);
  });

  it('TCP v4 data ACK: TOA first, TS and two SACK blocks, payload', () => {
    const r = res.get('tcp4Sack')!;
    expect(layer(r, 'TCP')).toMatchObject({ seq: 0xfffffff0, ack: 77, flags: 'PA', dataofs: 15 });
    expect(layer(r, 'TCP').options).toEqual([
      [254, '9c410a000002'],
      ['NOP', null],
      ['NOP', null],
      ['Timestamp', [5, 6]],
      ['NOP', null],
      ['NOP', null],
      ['SAck', [100, 200, 300, 400]],
    ]);
    expect(layer(r, 'Raw').load).toBe(Buffer.from('GET / HTTP/1.1\r\n\r\n').toString('hex'));
  });

  it('TCP v6: TOA kind 253 len 20 (port + 16-byte address), IPv6 header fields', () => {
    const r = res.get('tcp6Toa')!;
    expect(layer(r, 'IPv6')).toMatchObject({ src: '2001:db8:9::1', dst: '2001:db8:9::2', hlim: 63, fl: 0x12345, tc: 0x20, nh: 6, plen: 20 + 20 + 5 });
    expect(layer(r, 'TCP')).toMatchObject({ sport: 1234, dport: 8080, flags: 'A', dataofs: 10 });
    expect(layer(r, 'TCP').options).toEqual([[253, '9c42' + '20010db8000000000000000000000002']]);
  });

  it('DPVS NAT64 TOA: kind 254 with a 20-byte IPv6 TOA inside IPv4 TCP', () => {
    const r = res.get('tcp4Toa6Dpvs')!;
    expect(layer(r, 'IP').len).toBe(20 + 20 + 20);
    expect(layer(r, 'TCP').options).toEqual([[254, '9c43' + '20010db8000000000000000000000002']]);
  });

  it('UDP over v4 and v6, and a zero (absent) checksum kept at 0', () => {
    expect(layer(res.get('udp4')!, 'UDP')).toMatchObject({ sport: 5353, dport: 53, len: 13 });
    expect(layer(res.get('udp6')!, 'UDP')).toMatchObject({ sport: 5353, dport: 53, len: 14 });
    expect(layer(res.get('udp6')!, 'IPv6')).toMatchObject({ nh: 17, plen: 14 });
    expect(layer(res.get('udp4Zero')!, 'UDP')).toMatchObject({ chksum: 0, len: 9 });
  });

  it('ICMP frag-needed: mtu, quoted IPv4+TCP (cut quote and quote from layers)', () => {
    const r = res.get('icmpFragNeeded')!;
    expect(layer(r, 'ICMP')).toMatchObject({ type: 3, code: 4, nexthopmtu: 1400 });
    expect(layer(r, 'IPerror')).toMatchObject({ src: VIP, dst: CIP, len: 20 + 20 + 1400, flags: 'DF' });
    expect(layer(r, 'TCPerror')).toMatchObject({ sport: 80, dport: 40000, seq: 7, ack: 1001 });
    expect(layer(r, 'IP').len).toBe(20 + 8 + 548);
    const q = res.get('icmpFragNeededLayers')!;
    expect(layer(q, 'TCPerror')).toMatchObject({ sport: 80, dport: 40000, seq: 5, ack: 6, flags: 'A' });
  });

  it('ICMPv6 packet too big: mtu and the quoted IPv6/TCP', () => {
    const r = res.get('icmp6Ptb')!;
    expect(layer(r, 'ICMPv6PacketTooBig')).toMatchObject({ type: 2, code: 0, mtu: 1280 });
    expect(layer(r, 'IPerror6')).toMatchObject({ src: VIP6, dst: CIP6, nh: 6 });
    expect(layer(r, 'TCPerror')).toMatchObject({ sport: 80, dport: 40000, flags: 'PA' });
  });

  it('ARP request, reply and gratuitous ARP (padded to 60 bytes)', () => {
    expect(layer(res.get('arpRequest')!, 'ARP')).toMatchObject({ op: 1, hwsrc: MAC_C, psrc: '10.0.0.2', hwdst: '00:00:00:00:00:00', pdst: '10.0.0.1', hwtype: 1, ptype: 0x0800 });
    expect(layer(res.get('arpReply')!, 'ARP')).toMatchObject({ op: 2, hwsrc: MAC_D, psrc: '10.0.0.1', hwdst: MAC_C, pdst: '10.0.0.2' });
    const g = res.get('garp')!;
    expect(layer(g, 'ARP')).toMatchObject({ op: 1, psrc: VIP, pdst: VIP });
    expect(spots.garp!.build().length).toBe(60);
    expect(layer(g, 'Padding').load).toBe('00'.repeat(60 - 42));
  });

  it('QinQ: 802.1ad outer tag then 802.1Q, ICMP echo', () => {
    const r = res.get('qinq')!;
    expect(layer(r, 'Ether').type).toBe(0x88a8);
    expect(layer(r, 'Dot1AD')).toMatchObject({ vlan: 100, type: 0x8100 });
    expect(layer(r, 'Dot1Q')).toMatchObject({ vlan: 200, prio: 5, id: 1 });
    expect(layer(r, 'ICMP')).toMatchObject({ type: 8, id: 77, seq: 3 });
  });

  it('tunnels: IPIP, 6in4, GRE with key+checksum, GRE over v6, GUE', () => {
    const ipip = res.get('ipip')!;
    expect(layer(ipip, 'IP', 0)).toMatchObject({ proto: 4, src: '172.16.0.1', dst: '172.16.0.10', ttl: 63 });
    expect(layer(ipip, 'IP', 1)).toMatchObject({ src: CIP, dst: VIP, proto: 6 });
    expect(layer(ipip, 'TCP').options).toEqual([['MSS', 1460]]);
    expect(layer(res.get('sixIn4')!, 'IP')).toMatchObject({ proto: 41 });
    expect(layer(res.get('sixIn4')!, 'IPv6')).toMatchObject({ src: CIP6, dst: VIP6 });
    const gre = res.get('greKeyCsum')!;
    expect(layer(gre, 'IP', 0).proto).toBe(47);
    expect(layer(gre, 'GRE')).toMatchObject({ chksum_present: 1, key_present: 1, key: 0x1234, proto: 0x0800 });
    expect(layer(gre, 'UDP')).toMatchObject({ sport: 9, dport: 10 });
    const gre6 = res.get('greV6')!;
    expect(layer(gre6, 'IPv6', 0).nh).toBe(47);
    expect(layer(gre6, 'GRE').proto).toBe(0x86dd);
    // scapy has no GUE dissector: UDP to 6080 with checksum 0, then the 4-byte GUE header (proto 4) and the inner IPv4.
    const gue = res.get('gue')!;
    expect(layer(gue, 'UDP')).toMatchObject({ sport: 50000, dport: 6080, chksum: 0, len: 8 + 4 + 20 + 20 });
    expect(String(layer(gue, 'Raw').load).slice(0, 10)).toBe('0004000045');
  });

  it('IPv4 options (router alert + record route), IPv6 ext headers, ND', () => {
    const r = res.get('ipv4Options')!;
    expect(layer(r, 'IP')).toMatchObject({ ihl: 8 });
    const opts = layer(r, 'IP').options as { layer: string }[];
    expect(opts.map((o) => o.layer).slice(0, 2)).toEqual(['IPOption_Router_Alert', 'IPOption_RR']);
    const e = res.get('icmp6Ext')!;
    expect(layer(e, 'IPv6').nh).toBe(0);
    expect(layer(e, 'IPv6ExtHdrHopByHop').nh).toBe(60);
    expect(layer(e, 'IPv6ExtHdrDestOpt').nh).toBe(58);
    expect(layer(e, 'ICMPv6EchoRequest')).toMatchObject({ id: 9, seq: 8 });
    expect(layer(res.get('ndNs')!, 'ICMPv6ND_NS').tgt).toBe(VIP6);
    expect(layer(res.get('ndNs')!, 'ICMPv6NDOptSrcLLAddr').lladdr).toBe(MAC_C);
    expect(layer(res.get('ndNa')!, 'ICMPv6ND_NA')).toMatchObject({ tgt: VIP6, S: 1, O: 1, R: 0 });
    expect(layer(res.get('ndNa')!, 'ICMPv6NDOptDstLLAddr').lladdr).toBe(MAC_D);
  });

  it('Linux cooked headers v1 and v2; raw IP with URG/ECE/CWR', () => {
    expect(layer(res.get('sll')!, 'CookedLinux')).toMatchObject({ pkttype: 4, lladdrlen: 6, proto: 0x0800 });
    expect(layer(res.get('sll2')!, 'CookedLinuxV2')).toMatchObject({ ifindex: 3, proto: 0x86dd });
    expect(layer(res.get('sll2')!, 'TCP').flags).toBe('R');
    expect(layer(res.get('rawUrg')!, 'TCP')).toMatchObject({ flags: 'PAUEC', urgptr: 3 });
  });

  it('IPv4 fragments: 8-byte aligned offsets, MF on all but the last, scapy reassembles the original', () => {
    expect(frags.length).toBe(3);
    const ips = fragRes.map((r) => layer(r, 'IP'));
    expect(ips.map((f) => f.frag)).toEqual([0, 185, 370]); // in 8-byte units: 1480 / 8, 2960 / 8
    expect(ips.map((f) => f.flags)).toEqual(['MF', 'MF', '']);
    expect(ips.map((f) => f.id)).toEqual([999, 999, 999]);
    expect(ips.map((f) => f.len)).toEqual([1500, 1500, 20 + 3008 - 2960]);
    frags.forEach((f, i) => expect(fragRes[i]!.rebuilt).toBe(f.toString('hex')));
    const whole = fragSource.build().subarray(14).toString('hex');
    expect(fragRes[fragRes.length - 1]!.defragmented).toEqual([whole]);
  });
});

describe.skipIf(!need(hasScapy, 'python3 with scapy not installed'))('builder vs scapy (random packets)', () => {
  it('50 random valid packets: scapy recomputes the same lengths and checksums', () => {
    const sample = fc.sample(arbPacket, { numRuns: 50, seed: 20261126 });
    const items = sample.map((b) => ({ hex: b.build().toString('hex'), link: b.linkType }));
    const out = scapyDissect(items);
    out.forEach((r, i) => {
      expect({ i, what: sample[i]!.describe(), bytes: r.rebuilt }).toEqual({ i, what: sample[i]!.describe(), bytes: items[i]!.hex });
    });
  });
});
