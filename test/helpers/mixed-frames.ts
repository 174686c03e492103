/**
 * Frames for the capture-reader tests: a deterministic PRNG and a varied set of Ethernet frames
 * built with the project's PacketBuilder (the parallel-summary tests write files of them).
 */
import { PacketBuilder } from '../../src/replay/builder/index.js';

/** Deterministic PRNG (mulberry32): the same file for the same seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CM = '02:00:00:00:00:01';
export const SM = '02:00:00:00:00:02';

/** A varied set of frames: TCP (with TOA), UDP, ICMP, ARP, VLAN, IPv6, GRE, bad checksums, malformed IP.
 *  `udpExtra` lengthens the UDP payloads (an odd length exercises pcapng block padding). */
export function mixedFrames(udpExtra = 0): Buffer[] {
  const t: Buffer[] = [];
  const e = (): PacketBuilder => PacketBuilder.eth({ src: CM, dst: SM });
  const ip = (b: PacketBuilder, i: number): PacketBuilder => b.ipv4({ src: `10.0.${i}.1`, dst: '192.168.0.100', id: i });
  for (let i = 0; i < 4; i++) {
    t.push(ip(e(), i).tcp({ sport: 1024 + i, dport: 80, flags: 'S', options: [{ kind: 'mss', value: 1460 }] }).build());
    t.push(ip(e(), i).tcp({ sport: 1024 + i, dport: 80, flags: 'A', options: [{ kind: 'toa', addr: '10.9.9.9', port: 5555 }] }).build());
    t.push(ip(e(), i).tcp({ sport: 1024 + i, dport: 80, flags: 'PA' }).payload(Buffer.alloc(100 + 300 * i, 0x41)).build());
    t.push(ip(e(), i).udp({ sport: 53, dport: 3000 + i }).payload(Buffer.alloc(40 * i + udpExtra, 0x42)).build());
  }
  t.push(ip(e(), 7).icmp({ type: 8, code: 0, id: 1, seq: 2 }).payload(Buffer.alloc(56, 1)).build());
  t.push(e().arp({ op: 1, sha: CM, spa: '10.0.0.1', tha: '00:00:00:00:00:00', tpa: '10.0.0.2' }).build());
  t.push(ip(e().vlan({ id: 42 }), 8).udp({ sport: 1, dport: 2 }).payload('vlan').build());
  t.push(e().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).tcp({ sport: 4000, dport: 443, flags: 'S' }).build());
  t.push(ip(e(), 9).gre().ipv4({ src: '10.1.1.1', dst: '10.2.2.2' }).tcp({ sport: 5, dport: 6, flags: 'R' }).build());
  t.push(ip(e(), 10).tcp({ sport: 1, dport: 2, flags: 'A', checksum: 0x1234 }).build()); // bad TCP checksum
  const badIhl = ip(e(), 11).udp({ sport: 1, dport: 2 }).build();
  badIhl[14] = 0x43; // IHL 3: malformed IPv4
  t.push(badIhl);
  return t;
}
