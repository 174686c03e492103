/**
 * Splitting pass 2 over threads by connection. NAT, DR and TUN keep the client's address and
 * port at every point (lvs-behavior.md §1.3–1.5), and every piece of state the NAT/DR/TUN
 * tracker keeps is per client endpoint (engine/connections.ts: its ports, ISNs, connections,
 * held records and UDP generations are all looked up by address and port). So the records of
 * one client endpoint, at every point and in both directions, can be judged apart from all
 * others: each thread reads every capture but extracts only the records whose client endpoint
 * falls in its share of buckets. FullNAT rewrites the client address, so it is never split.
 *
 * The client end of a packet is the end that is not a service address (VIP, RIP, local
 * address); when both or neither are, the end that is not a service port; failing that the
 * bucket is symmetric in the two ends, so both directions of such a flow still meet.
 */
import { ipv6ToString, parseIpv4 } from '../../decode/addr.js';
import type { Packet } from '../../decode/packet.js';
import type { Service } from '../service/model.js';
import { transportOf } from './record.js';

/** Which part of the connections a thread judges: share `index` of `of` (0 of 1: all). */
export interface ShareSpec {
  index: number;
  of: number;
}

export const WHOLE: ShareSpec = { index: 0, of: 1 };

const BUCKETS = 1024;

/**
 * Share 0 is the main thread's, which also does what only one thread may: ARP analysis, frame
 * counts, capture findings (engine/share.ts). The helpers start ~50 ms late (thread start and
 * their own first pass) but do less per packet. On the bench set (2-core VM, 8 interleaved runs
 * each) main parts of 0.42, 0.5 and 0.58 gave medians within the runs' spread (1.64–1.74 s), so
 * the shares are equal.
 */
const MAIN_FRACTION = 0.5;

/** The bucket range [lo, hi) of a share. */
export function bucketRange(spec: ShareSpec): [number, number] {
  if (spec.of <= 1) return [0, BUCKETS];
  // MAIN_FRACTION is the main thread's part of two shares; with more, its part shrinks alike.
  const main = Math.round((BUCKETS * MAIN_FRACTION * 2) / spec.of);
  if (spec.index === 0) return [0, main];
  const rest = BUCKETS - main;
  const at = (i: number): number => main + Math.round((rest * i) / (spec.of - 1));
  return [at(spec.index - 1), at(spec.index)];
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Hash of one end: address (IPv4 as int32, IPv6 folded) and port. */
function endHash(addr: number, port: number): number {
  return mix(mix(0x5bd1e995, addr), port);
}

function ipv6Fold(buf: Uint8Array, off: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i += 4) h = mix(h, (buf[off + i]! << 24) | (buf[off + i + 1]! << 16) | (buf[off + i + 2]! << 8) | buf[off + i + 3]!);
  return h;
}

/**
 * The predicate a reader applies to each decoded packet (engine/stream.ts `share`): true when
 * its client endpoint is in this share, or when it carries no TCP/UDP (nothing to extract).
 * Null for the whole run.
 */
export function shareFilter(services: readonly Service[], spec: ShareSpec): ((p: Packet) => boolean) | null {
  if (spec.of <= 1) return null;
  const [lo, hi] = bucketRange(spec);
  // IPv4 service addresses as int32 (a uint32 above 2^31 would be a heap number per lookup).
  const v4 = new Set<number>();
  const v6 = new Set<string>();
  const ports = new Set<number>();
  const addAddr = (a: string): void => {
    const n = parseIpv4(a);
    if (n !== null) v4.add(n | 0);
    else if (a) v6.add(a);
  };
  for (const s of services) {
    addAddr(s.vip);
    for (const r of s.realServers) addAddr(r.ip);
    for (const l of s.localAddresses) addAddr(l);
    if (s.vport) ports.add(s.vport);
    for (const r of s.realServers) if (r.port) ports.add(r.port);
  }
  return (p) => {
    const l = transportOf(p);
    if (l === null) return true;
    const ip = l.ip;
    const tcp = l.l4 === 'tcp';
    const sport = tcp ? l.tcp.sport : l.udp.sport;
    const dport = tcp ? l.tcp.dport : l.udp.dport;
    let srcSvc: boolean;
    let dstSvc: boolean;
    let src: number;
    let dst: number;
    if (ip.version === 4) {
      src = ip.src4 | 0;
      dst = ip.dst4 | 0;
      srcSvc = v4.has(src);
      dstSvc = v4.has(dst);
    } else {
      srcSvc = v6.size > 0 && v6.has(ipv6ToString(p.buf, ip.srcOff));
      dstSvc = v6.size > 0 && v6.has(ipv6ToString(p.buf, ip.dstOff));
      src = ipv6Fold(p.buf, ip.srcOff);
      dst = ipv6Fold(p.buf, ip.dstOff);
    }
    if (srcSvc === dstSvc) {
      srcSvc = ports.has(sport);
      dstSvc = ports.has(dport);
    }
    let h: number;
    if (srcSvc && !dstSvc) h = endHash(dst, dport);
    else if (dstSvc && !srcSvc) h = endHash(src, sport);
    else h = endHash(src, sport) ^ endHash(dst, dport);
    const b = (h >>> 0) % BUCKETS;
    return b >= lo && b < hi;
  };
}
