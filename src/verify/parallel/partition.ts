/**
 * Splitting pass 2 over threads by connection. NAT, DR and TUN keep the client's address and
 * port at every point (lvs-behavior.md §1.3–1.5), and every piece of state the NAT/DR/TUN
 * tracker keeps is per client endpoint (correlate/connections.ts: its ports, ISNs, connections,
 * held records and UDP generations are all looked up by address and port). So the records of
 * one client endpoint, at every point and in both directions, can be judged apart from all
 * others: each thread reads every capture but extracts only the records whose client endpoint
 * falls in its share of buckets. FullNAT rewrites the client address, so it is never split.
 *
 * The client end of a packet is the other end of a virtual service (VIP:vport, any port of a
 * port-0 service): the tracker learns its clients exactly so. Else it is the end that is not a
 * service address (VIP, RIP, local address); when both or neither are, the end that is not a
 * service port. When that does not tell either (two real servers talking on service ports),
 * every share takes the packet: only the share that learnt its client
 * endpoint from a packet to the VIP can attach it to a connection, as a single thread would;
 * the others hold it as unattributable and drop it after the grace, as a single thread does
 * with a packet no client endpoint explains.
 */
import { ipv6ToString, parseIpv4, readIpv4 } from '../../decode/addr.js';
import { LinkType, type Frame } from '../../decode/frame.js';
import type { Packet } from '../../decode/packet.js';
import { serviceAddresses, servicePorts, type Service } from '../service/model.js';
import { mix, transportOf } from '../read/record.js';
import type { RecordSelection } from '../read/feed.js';

/** Which part of the connections a thread judges: share `index` of `of` (0 of 1: all). */
export interface ShareSpec {
  index: number;
  of: number;
}

const BUCKETS = 1024;

/**
 * Share 0 is the main thread's, which also gathers what a run gathers once: ARP analysis,
 * capture warnings (judge/judge.ts RunFacts), so it decodes every frame; a helper starts later
 * (thread start, its own pass 1) but passes over other shares' TCP frames undecoded
 * (shareSkip). With equal shares the main thread finished last, with 0.4 first: 0.45 lies
 * between, and single runs vary by more than what is left to balance.
 */
const MAIN_FRACTION = 0.45;

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

/** Bucket of one end: address (IPv4 as int32, IPv6 folded) and port. */
function endBucket(addr: number, port: number): number {
  return mix(mix(0x5bd1e995, addr), port) % BUCKETS;
}

function ipv6Fold(buf: Uint8Array, off: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i += 4) h = mix(h, (buf[off + i]! << 24) | (buf[off + i + 1]! << 16) | (buf[off + i + 2]! << 8) | buf[off + i + 3]!);
  return h;
}

interface ServiceEnds {
  /** IPv4 service addresses as int32 (a uint32 above 2^31 would be a heap number per lookup). */
  v4: Set<number>;
  v6: Set<string>;
  ports: Set<number>;
  /** Virtual services: VIP (IPv4 as int32, IPv6 as text) → its ports (0: every port). */
  vip4: Map<number, number[]>;
  vip6: Map<string, number[]>;
}

function isService(vports: number[] | undefined, port: number): boolean {
  return vports !== undefined && (vports.includes(port) || vports.includes(0));
}

function serviceEnds(services: readonly Service[]): ServiceEnds {
  const ends: ServiceEnds = { v4: new Set(), v6: new Set(), ports: servicePorts(services), vip4: new Map(), vip6: new Map() };
  for (const a of serviceAddresses(services)) {
    const n = parseIpv4(a);
    if (n !== null) ends.v4.add(n | 0);
    else ends.v6.add(a);
  }
  const addVip = <K>(map: Map<K, number[]>, vip: K, port: number): void => {
    const list = map.get(vip);
    if (list) list.push(port);
    else map.set(vip, [port]);
  };
  for (const s of services) {
    if (!s.vip) continue;
    const n = parseIpv4(s.vip);
    if (n !== null) addVip(ends.vip4, n | 0, s.vport);
    else addVip(ends.vip6, s.vip, s.vport);
  }
  return ends;
}

/** The bucket of a packet from its two ends (see the module comment for which is the client),
 *  or -1 when the ends do not tell which is the client (every share takes such a packet). */
function bucketOf(ends: ServiceEnds, src: number, dst: number, srcSvc: boolean, dstSvc: boolean, sport: number, dport: number, srcVip: number[] | undefined, dstVip: number[] | undefined): number {
  const toService = isService(dstVip, dport);
  if (toService !== isService(srcVip, sport)) return toService ? endBucket(src, sport) : endBucket(dst, dport);
  if (srcSvc === dstSvc) {
    srcSvc = ends.ports.has(sport);
    dstSvc = ends.ports.has(dport);
    if (srcSvc === dstSvc) return -1;
  }
  return srcSvc ? endBucket(dst, dport) : endBucket(src, sport);
}

/**
 * The predicate a reader applies to each decoded packet (read/stream.ts `share`): true when
 * its client endpoint is in this share, when its client end cannot be told, or when it carries
 * no TCP/UDP (nothing to extract). Null for the whole run.
 */
export function shareFilter(services: readonly Service[], spec: ShareSpec): ((p: Packet) => boolean) | null {
  if (spec.of <= 1) return null;
  const [lo, hi] = bucketRange(spec);
  const ends = serviceEnds(services);
  const { v4, v6, vip4, vip6 } = ends;
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
    let srcVip: number[] | undefined;
    let dstVip: number[] | undefined;
    if (ip.version === 4) {
      src = ip.src4 | 0;
      dst = ip.dst4 | 0;
      srcSvc = v4.has(src);
      dstSvc = v4.has(dst);
      srcVip = srcSvc ? vip4.get(src) : undefined;
      dstVip = dstSvc ? vip4.get(dst) : undefined;
    } else {
      const srcText = v6.size > 0 ? ipv6ToString(p.buf, ip.srcOff) : '';
      const dstText = v6.size > 0 ? ipv6ToString(p.buf, ip.dstOff) : '';
      srcSvc = v6.has(srcText);
      dstSvc = v6.has(dstText);
      srcVip = vip6.get(srcText);
      dstVip = vip6.get(dstText);
      src = ipv6Fold(p.buf, ip.srcOff);
      dst = ipv6Fold(p.buf, ip.dstOff);
    }
    const b = bucketOf(ends, src, dst, srcSvc, dstSvc, sport, dport, srcVip, dstVip);
    return b < 0 || (b >= lo && b < hi);
  };
}

/**
 * A check on the raw frame, before it is decoded: true when it is certainly another share's —
 * an unfragmented IPv4 TCP segment on Ethernet (optionally one VLAN tag) whose headers are all
 * captured, the bulk of any capture set. A helper share skips such frames without decoding
 * them (it needs nothing else from them: ARP and capture checks are the main share's). For
 * every other frame it says false and the frame is decoded, then judged by shareFilter; the
 * bucket is computed from the same bytes, so the two never disagree. UDP is always decoded: it
 * may be a GUE tunnel, whose client is inside.
 */
export function shareSkip(services: readonly Service[], spec: ShareSpec): ((f: Frame) => boolean) | null {
  if (spec.of <= 1) return null;
  const [lo, hi] = bucketRange(spec);
  const ends = serviceEnds(services);
  const { v4, vip4 } = ends;
  return (f) => {
    if (f.linkType !== LinkType.ETHERNET) return false;
    const b = f.buf;
    const end = f.off + f.caplen;
    let l3 = f.off + 14;
    if (l3 > end) return false;
    let type = (b[l3 - 2]! << 8) | b[l3 - 1]!;
    if (type === 0x8100) {
      l3 += 4;
      if (l3 > end) return false;
      type = (b[l3 - 2]! << 8) | b[l3 - 1]!;
    }
    if (type !== 0x0800 || l3 + 20 > end) return false;
    const vihl = b[l3]!;
    const ihl = (vihl & 15) * 4;
    // IPv4, TCP, no fragment (MF clear, offset 0), headers inside the capture and the datagram.
    if (vihl >> 4 !== 4 || ihl < 20 || b[l3 + 9] !== 6 || (b[l3 + 6]! & 0x3f) !== 0 || b[l3 + 7] !== 0) return false;
    const l4 = l3 + ihl;
    if (l4 + 20 > end || ((b[l3 + 2]! << 8) | b[l3 + 3]!) < ihl + 20) return false;
    const src = readIpv4(b, l3 + 12) | 0;
    const dst = readIpv4(b, l3 + 16) | 0;
    const sport = (b[l4]! << 8) | b[l4 + 1]!;
    const dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
    const k = bucketOf(ends, src, dst, v4.has(src), v4.has(dst), sport, dport, vip4.get(src), vip4.get(dst));
    return k >= 0 && (k < lo || k >= hi);
  };
}

/** What share `spec` takes, as pass 2 is given it (null: everything, the whole run). */
export function shareSelection(services: readonly Service[], spec: ShareSpec): RecordSelection | null {
  const takes = shareFilter(services, spec);
  const passesOver = shareSkip(services, spec);
  return takes && passesOver ? { takes, passesOver } : null;
}
