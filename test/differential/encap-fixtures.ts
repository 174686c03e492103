/**
 * Ethernet frames of every encapsulation the decoder opens, made with the project's builder;
 * the headers the builder has no layer for (VXLAN, Geneve, ERSPAN, GRE v1/PPP, MPLS, GUE's
 * header-less form) are written here byte by byte from their RFCs and given as payload.
 * Used by the tshark/scapy differential tests and the nesting property tests.
 */
import { PacketBuilder } from '../../src/replay/builder/index.js';

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';
const C = '02:00:00:00:00:0c';
const D = '02:00:00:00:00:0d';

const e = (): PacketBuilder => PacketBuilder.eth({ src: A, dst: B });

/** A TCP segment in IPv4 (the innermost packet of most fixtures). */
function innerIp4(src: string, dst: string, sport: number, id = 77): Buffer {
  return PacketBuilder.raw().ipv4({ src, dst, id, ttl: 61 }).tcp({ sport, dport: 80, seq: 1000 + sport, ack: 5, flags: 'PA' }).payload('hi').build();
}

/** An Ethernet frame carrying IPv4/TCP (what overlays carry). */
function innerFrame(vlan?: number): Buffer {
  const b = PacketBuilder.eth({ src: C, dst: D });
  if (vlan !== undefined) b.vlan({ id: vlan });
  return b.ipv4({ src: '172.16.0.1', dst: '172.16.0.2', id: 9, ttl: 62 }).udp({ sport: 3333, dport: 9999 }).payload('q').build();
}

function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

function mplsEntry(label: number, tc: number, bottom: boolean, ttl: number): number[] {
  return [(label >> 12) & 255, (label >> 4) & 255, ((label & 15) << 4) | (tc << 1) | (bottom ? 1 : 0), ttl];
}

export interface EncapFixture {
  name: string;
  frame: Buffer;
  /** Encapsulation kinds of `Packet.levels`, outermost first. */
  levels: string[];
  /** tshark `-d` decode-as rules the fixture needs (GUE has no Wireshark dissector). */
  decodeAs?: string[];
}

export const GUE_TEST_PORT = 9886;

export function encapFixtures(): EncapFixture[] {
  const vxlan = (vni: number): number[] => [0x08, 0, 0, 0, (vni >> 16) & 255, (vni >> 8) & 255, vni & 255, 0];
  // Geneve with one 4-byte option (class 0x0102, type 0x80, 1 word of data).
  const geneve = (vni: number, proto: number): number[] => [2, 0, proto >> 8, proto & 255, (vni >> 16) & 255, (vni >> 8) & 255, vni & 255, 0, 0x01, 0x02, 0x80, 1, 0xde, 0xad, 0xbe, 0xef];
  const erspan2 = [0x10 | 0, 100, (3 << 5) | (0 << 3) | 0 | 0, 42, 0, 0x00, 0x12, 0x34]; // ver 1, vlan 100, cos 3, session 42, index 0x1234
  const erspan3 = [0x20, 200, (5 << 5) | 1, 0x2b, ...u32(123456), 0x00, 0x07, 0x00, 0x10]; // ver 2, vlan 200, session 299, ts, sgt 7, hwid 1
  const greV1 = (callId: number, payload: Buffer, seq: number, ack: number): Buffer => {
    const ppp = Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), payload]);
    return Buffer.from([0x30, 0x81, 0x88, 0x0b, (ppp.length >> 8) & 255, ppp.length & 255, callId >> 8, callId & 255, ...u32(seq), ...u32(ack), ...ppp]);
  };
  const list: EncapFixture[] = [
    {
      name: 'GRE in GRE (IPv4 ×3)',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 1 }).gre().ipv4({ src: '10.1.0.1', dst: '10.1.0.2', id: 2 }).gre({ key: 7 }).ipv4({ src: '203.0.113.5', dst: '10.0.0.100', id: 3 }).udp({ sport: 5000, dport: 9999 }).payload('x').build(),
      levels: ['gre', 'gre'],
    },
    {
      name: 'IPv6 in IPv6 in IPv6',
      frame: e().ipv6({ src: '2001:db8::1', dst: '2001:db8::2', hlim: 64 }).ipv6({ src: '2001:db8:1::1', dst: '2001:db8:1::2', hlim: 63 }).ipv6({ src: '2001:db8:2::1', dst: '2001:db8:2::2', hlim: 62 }).tcp({ sport: 4000, dport: 443, flags: 'S', seq: 99 }).build(),
      levels: ['ip6ip6', 'ip6ip6'],
    },
    {
      name: 'IPIP in GRE over IPv6',
      frame: e().ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).gre().ipv4({ src: '10.2.0.1', dst: '10.2.0.2', id: 4 }).ipv4({ src: '198.51.100.1', dst: '10.0.0.100', id: 5 }).tcp({ sport: 4001, dport: 80, flags: 'S', seq: 1 }).build(),
      levels: ['gre', 'ipip'],
    },
    {
      name: 'GRE v0 with checksum, key and sequence number',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 6 }).gre({ checksum: true, key: 0x1234, seq: 77 }).ipv4({ src: '203.0.113.9', dst: '10.0.0.100', id: 7 }).tcp({ sport: 4002, dport: 80, flags: 'SA', seq: 5, ack: 6 }).build(),
      levels: ['gre'],
    },
    {
      name: 'GRE v1 (PPTP) carrying PPP/IPv4',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 8, proto: 47 }).payload(greV1(5, innerIp4('192.168.1.5', '192.168.1.9', 4003), 3, 2)).build(),
      levels: ['gre'],
    },
    {
      name: 'GRE-in-UDP (4754)',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 9 }).udp({ sport: 50000, dport: 4754 }).payload(Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), innerIp4('192.0.2.1', '192.0.2.2', 4004)])).build(),
      levels: ['gre-udp'],
    },
    {
      name: 'GRE transparent Ethernet bridging (0x6558)',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 10 }).gre().ethInner({ src: C, dst: D }).ipv4({ src: '172.16.1.1', dst: '172.16.1.2', id: 11 }).tcp({ sport: 4005, dport: 22, flags: 'A', seq: 3, ack: 4 }).build(),
      levels: ['gre'],
    },
    {
      name: 'ERSPAN type II',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 12 }).gre({ protocol: 0x88be, seq: 1 }).payload(Buffer.concat([Buffer.from(erspan2), innerFrame()])).build(),
      levels: ['erspan2'],
    },
    {
      name: 'ERSPAN type III',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 13 }).gre({ protocol: 0x22eb, seq: 2 }).payload(Buffer.concat([Buffer.from(erspan3), innerFrame(30)])).build(),
      levels: ['erspan3'],
    },
    {
      name: 'VXLAN (4789) with a VLAN-tagged inner frame',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 14 }).udp({ sport: 41000, dport: 4789 }).payload(Buffer.concat([Buffer.from(vxlan(5001)), innerFrame(12)])).build(),
      levels: ['vxlan'],
    },
    {
      name: 'Geneve (6081) with an option, carrying Ethernet',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 15 }).udp({ sport: 41001, dport: 6081 }).payload(Buffer.concat([Buffer.from(geneve(77, 0x6558)), innerFrame()])).build(),
      levels: ['geneve'],
    },
    {
      name: 'IPIP inside VXLAN (a TUN director behind an overlay)',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 16 }).udp({ sport: 41002, dport: 4789 }).payload(Buffer.concat([Buffer.from(vxlan(9)), PacketBuilder.eth({ src: C, dst: D }).ipv4({ src: '10.9.0.1', dst: '10.9.0.2', id: 17 }).ipv4({ src: '198.51.100.3', dst: '10.0.0.100', id: 18 }).tcp({ sport: 4006, dport: 80, flags: 'S', seq: 8 }).build()])).build(),
      levels: ['vxlan', 'ipip'],
    },
    {
      name: 'GUE header-less (version 1) on a custom port',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 19 }).udp({ sport: 41003, dport: GUE_TEST_PORT }).payload(innerIp4('203.0.113.7', '10.0.0.100', 4007)).build(),
      levels: ['gue'],
      decodeAs: [`udp.port==${GUE_TEST_PORT},ip`],
    },
    {
      name: 'MPLS label stack (two labels) over Ethernet',
      frame: PacketBuilder.eth({ src: A, dst: B, type: 0x8847 }).payload(Buffer.concat([Buffer.from([...mplsEntry(100, 0, false, 64), ...mplsEntry(2001, 5, true, 63)]), innerIp4('10.5.0.1', '10.5.0.2', 4008)])).build(),
      levels: [],
    },
    {
      name: 'MPLS in GRE, then IPv6',
      frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 20 }).gre({ protocol: 0x8847 }).payload(Buffer.concat([Buffer.from(mplsEntry(300, 1, true, 9)), PacketBuilder.raw().ipv6({ src: '2001:db8:5::1', dst: '2001:db8:5::2' }).udp({ sport: 7, dport: 9 }).build()])).build(),
      levels: ['gre'],
    },
  ];
  return list;
}
