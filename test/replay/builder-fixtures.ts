/**
 * Spot-check packets shared by the scapy and tshark oracle tests: one of each kind the builder
 * makes (test support, not a test).
 */
import { PacketBuilder, fragmentIpv4 } from '../../src/replay/builder/index.js';

export const MAC_C = '02:00:00:00:00:01';
export const MAC_D = '02:00:00:00:00:02';
export const CIP = '10.0.0.2';
export const VIP = '192.168.0.100';
export const CIP6 = '2001:db8::2';
export const VIP6 = '2001:db8:1::100';

const eth = (): PacketBuilder => PacketBuilder.eth({ src: MAC_C, dst: MAC_D });

function tcpQuoted(): Buffer {
  return PacketBuilder.raw()
    .ipv4({ src: VIP, dst: CIP, df: true })
    .tcp({ sport: 80, dport: 40000, seq: 7, ack: 1001, flags: 'PA' })
    .payload(Buffer.alloc(1400, 0x61))
    .build();
}

/** The spot-check packets: name → builder. */
export const spots: Record<string, PacketBuilder> = {
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
  tcpExpRaw: eth()
    .ipv4({ src: CIP, dst: VIP })
    .tcp({
      sport: 40000,
      dport: 80,
      flags: 'S',
      options: [
        { kind: 'exp', optKind: 254, exid: 0xf989, data: Buffer.from('0102030405060708', 'hex') },
        { kind: 'raw', optKind: 30, data: Buffer.from('0081aabbccdd', 'hex') },
      ],
    }),
  greTeb: eth()
    .ipv4({ src: '172.16.0.1', dst: '172.16.0.10' })
    .gre()
    .ethInner({ src: MAC_C, dst: MAC_D })
    .ipv4({ src: CIP, dst: VIP })
    .udp({ sport: 3, dport: 4 })
    .payload('teb'),
  gue: eth()
    .ipv4({ src: '172.16.0.1', dst: '172.16.0.10' })
    .gue({ sport: 50000, dport: 6080 })
    .ipv4({ src: CIP, dst: VIP })
    .tcp({ sport: 40000, dport: 80, flags: 'S' }),
};

export const fragSource = eth().ipv4({ src: CIP, dst: VIP, id: 999 }).udp({ sport: 1000, dport: 2000 }).payload(Buffer.alloc(3000, 0x33));
export const frags = fragmentIpv4(fragSource.build(), 1500, { ipOff: 14 });

export const badChecksum = eth().ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 2, flags: 'S', checksum: 0xbeef });

