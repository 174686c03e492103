/**
 * Builder vs scapy: scapy must dissect every field a spec set, and scapy's own recomputation of
 * every length and checksum must give back exactly our bytes (see scapy-oracle.ts).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import fc from 'fast-check';
import { LinkType, PacketBuilder, fragmentIpv6 } from '../../src/replay/builder/index.js';
import { spots, frags, fragSource, badChecksum, MAC_C, MAC_D, CIP, VIP, CIP6, VIP6 } from './builder-fixtures.js';
import { need } from '../helpers/env.js';
import { scapyDissect, scapyPython, layer, type ScapyItem, type ScapyResult } from './scapy-oracle.js';
import { arbPacket } from './builder-arbitraries.js';

const hasScapy = scapyPython() !== null;
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

  it('RFC 6994 experimental option (TFO ExID) and a raw option are written as given', () => {
    const r = res.get('tcpExpRaw')!;
    expect(layer(r, 'TCP').options).toEqual([
      [254, 'f989' + '0102030405060708'],
      [30, '0081aabbccdd'],
    ]);
    expect(layer(r, 'TCP').dataofs).toBe(5 + 5);
  });

  it('GRE carrying Ethernet (TEB, 0x6558)', () => {
    const r = res.get('greTeb')!;
    expect(layer(r, 'GRE').proto).toBe(0x6558);
    expect(layer(r, 'Ether', 1)).toMatchObject({ src: MAC_C, dst: MAC_D, type: 0x0800 });
    expect(layer(r, 'UDP')).toMatchObject({ sport: 3, dport: 4 });
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

describe.skipIf(!need(hasScapy, 'python3 with scapy not installed'))('builder vs scapy (IPv6 fragments)', () => {
  it('fragmentIpv6 output (hop-by-hop kept unfragmentable) reassembles in scapy to the original', () => {
    const whole = PacketBuilder.raw()
      .ipv6({ src: CIP6, dst: VIP6, ext: [{ kind: 'hop' }, { kind: 'dest' }] })
      .udp({ sport: 1000, dport: 2000 })
      .payload(Buffer.alloc(3000, 0x44))
      .build();
    const f6 = fragmentIpv6(whole, 1280, { id: 0x1234 });
    expect(f6.length).toBe(3);
    const [r] = scapyDissect([{ hex: f6[0]!.toString('hex'), link: LinkType.RAW, ipOnly: true, defrag6: f6.map((f) => f.toString('hex')) }]);
    expect(layer(r!, 'IPv6').nh).toBe(0);
    expect(layer(r!, 'IPv6ExtHdrHopByHop').nh).toBe(44);
    expect(layer(r!, 'IPv6ExtHdrFragment')).toMatchObject({ nh: 60, offset: 0, m: 1, id: 0x1234 });
    expect(r!.rebuilt).toBe(f6[0]!.toString('hex'));
    // scapy rebuilds the reassembled packet with its own lengths: equal bytes = same packet.
    expect(r!.defragmented6).toBe(whole.toString('hex'));
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
