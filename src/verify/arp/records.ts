/**
 * What the ARP engine keeps from the packet stream. ARP is rare, so each ARP packet becomes a
 * small record (copied out of the reused Packet view). IPv4 frames are many, so they are only
 * counted into aggregates keyed by numbers — (VLAN, IP dst, Ethernet src, Ethernet dst) — which
 * allocate once per new key and never per frame.
 */
import type { Packet } from '../../decode/packet.js';
import { IpProto } from '../../decode/packet.js';
import { frameTimeNs } from '../../decode/frame.js';
import { isGroupMac, macNum, BROADCAST_MAC, ZERO_MAC } from './mac.js';

export type GarpForm = 'keepalived' | 'kernel' | 'reply' | 'request';

export interface Where {
  capture: string;
  frame: number;
  point: string;
  tsSec: number;
  tsNsec: number;
  tsNs: number;
}

export interface ArpRecord extends Where {
  /** Observation order: ties in time keep stream order. */
  seq: number;
  vlan: string;
  op: number;
  sha: number;
  spa: number;
  tha: number;
  tpa: number;
  /** Link-layer source (Ethernet or SLL address); null when the link layer has none. */
  ethSrc: number | null;
  ethDst: number | null;
  /** spa == tpa != 0. */
  gratuitous: boolean;
  /** RFC 5227 probe (spa 0.0.0.0): claims nothing. */
  probe: boolean;
  /** The same packet seen at other capture points (filled by `mergeCopies`). */
  copies: Where[];
}

export interface ConnRecord {
  proto: number;
  src: number;
  sport: number;
  dport: number;
  first: Where;
  frames: number;
}

/** Unicast IPv4 frames from one Ethernet source to one Ethernet destination for one IP dst. */
export interface IpAgg {
  vlan: string;
  dst: number;
  srcMac: number;
  dstMac: number;
  frames: number;
  first: Where;
  lastTsNs: number;
  points: Set<string>;
  /** A few IP sources behind srcMac (the client, or many clients behind a router). */
  srcIps: Set<number>;
  /** TCP/UDP connections by (src IP, sport) — bounded; `connCount` keeps counting past the bound. */
  conns: Map<number, ConnRecord>;
  connCount: number;
}

/** Bounds: nothing in a sane capture reaches them; reaching one is counted in stats.dropped. */
export const MAX_ARP_RECORDS = 500_000;
export const MAX_IP_AGGS = 200_000;
const MAX_CONNS_PER_AGG = 64;
const MAX_SRC_IPS = 16;

/** VLAN stack as text, outer tag first ("" untagged). Only called for ARP and new aggregates. */
export function vlanText(p: Packet): string {
  let s = '';
  for (let i = 0; i < p.vlan.count; i++) s += (i ? '.' : '') + p.vlan.id[i];
  return s;
}

/** VLAN stack as a number (0 untagged), unique for up to 4 tags; the allocation-free map key. */
export function vlanKey(p: Packet): number {
  let k = 0;
  for (let i = 0; i < p.vlan.count; i++) k = k * 4097 + p.vlan.id[i]! + 1;
  return k;
}

function where(p: Packet, point: string): Where {
  return {
    capture: p.capture,
    frame: p.frame,
    point,
    tsSec: p.tsSec,
    tsNsec: p.tsNsec,
    tsNs: frameTimeNs(p),
  };
}

type AggIndex = Map<number, Map<number, Map<number, Map<number, IpAgg>>>>;

function level<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

export class ArpCollector {
  readonly arp: ArpRecord[] = [];
  /** vlanKey → IP dst → Ethernet dst → Ethernet src → aggregate. */
  private readonly aggIndex: AggIndex = new Map();
  readonly aggs: IpAgg[] = [];
  /** Per capture file: the unicast MACs frames were delivered to (can this capture see a reply?). */
  readonly unicastSeen = new Map<string, Set<number>>();
  /** Per point: how often each MAC is source or destination of a unicast frame. The capture
   *  host's own MAC is in every unicast frame it captures, so it has the top count (or a tie
   *  with its only peer). */
  readonly pointMacs = new Map<string, Map<number, number>>();
  /** Last timestamp per capture: requests too close to the end cannot be judged unanswered. */
  readonly captureEnd = new Map<string, number>();
  frames = 0;
  vipFrames = 0;
  dropped = 0;
  private seq = 0;

  /** `isVip` decides which IPv4 frames are aggregated: all (VIPs inferred later) or only VIPs. */
  constructor(private readonly isVip: (dst4: number) => boolean) {}

  observe(p: Packet, point: string): void {
    this.frames++;
    const tsNs = frameTimeNs(p);
    const end = this.captureEnd.get(p.capture);
    if (end === undefined || tsNs > end) this.captureEnd.set(p.capture, tsNs);

    if (p.eth.present) {
      const dst = macNum(p.buf, p.eth.dstOff);
      if (!isGroupMac(dst)) {
        level(this.unicastSeen, p.capture, () => new Set<number>()).add(dst);
        // Unicast only: other hosts' broadcasts reach every capture and say nothing about its host.
        const src = macNum(p.buf, p.eth.srcOff);
        const counts = level(this.pointMacs, point, () => new Map<number, number>());
        counts.set(src, (counts.get(src) ?? 0) + 1);
        counts.set(dst, (counts.get(dst) ?? 0) + 1);
      }
    }
    if (p.arp.present && p.arp.isEthIpv4) this.observeArp(p, point);
    else if (p.eth.present && p.net.ip.version === 4 && this.isVip(p.net.ip.dst4)) this.observeIpv4(p, point);
  }

  private observeArp(p: Packet, point: string): void {
    if (this.arp.length >= MAX_ARP_RECORDS) {
      this.dropped++;
      return;
    }
    const a = p.arp;
    let ethSrc: number | null = null;
    let ethDst: number | null = null;
    if (p.eth.present) {
      ethSrc = macNum(p.buf, p.eth.srcOff);
      ethDst = macNum(p.buf, p.eth.dstOff);
    } else if (p.sll.present && p.sll.addrLen === 6) {
      ethSrc = macNum(p.buf, p.sll.addrOff);
    }
    this.arp.push({
      ...where(p, point),
      seq: this.seq++,
      vlan: vlanText(p),
      op: a.op,
      sha: macNum(p.buf, a.shaOff),
      spa: a.spa,
      tha: macNum(p.buf, a.thaOff),
      tpa: a.tpa,
      ethSrc,
      ethDst,
      gratuitous: a.spa === a.tpa && a.spa !== 0,
      probe: a.op === 1 && a.spa === 0,
      copies: [],
    });
  }

  private observeIpv4(p: Packet, point: string): void {
    const dstMac = macNum(p.buf, p.eth.dstOff);
    if (isGroupMac(dstMac)) return;
    const srcMac = macNum(p.buf, p.eth.srcOff);
    const ip = p.net.ip;
    this.vipFrames++;
    const byDst = level(this.aggIndex, vlanKey(p), () => new Map<number, Map<number, Map<number, IpAgg>>>());
    const byDstMac = level(byDst, ip.dst4, () => new Map<number, Map<number, IpAgg>>());
    const bySrcMac = level(byDstMac, dstMac, () => new Map<number, IpAgg>());
    let agg = bySrcMac.get(srcMac);
    if (agg === undefined) {
      if (this.aggs.length >= MAX_IP_AGGS) {
        this.dropped++;
        return;
      }
      agg = {
        vlan: vlanText(p),
        dst: ip.dst4,
        srcMac,
        dstMac,
        frames: 0,
        first: where(p, point),
        lastTsNs: 0,
        points: new Set(),
        srcIps: new Set(),
        conns: new Map(),
        connCount: 0,
      };
      bySrcMac.set(srcMac, agg);
      this.aggs.push(agg);
    }
    agg.frames++;
    agg.lastTsNs = frameTimeNs(p);
    if (!agg.points.has(point)) agg.points.add(point);
    if (agg.srcIps.size < MAX_SRC_IPS && !agg.srcIps.has(ip.src4)) agg.srcIps.add(ip.src4);
    const l4 = p.net.l4;
    if (l4 === 'tcp' || l4 === 'udp') {
      const sport = l4 === 'tcp' ? p.net.tcp.sport : p.net.udp.sport;
      const dport = l4 === 'tcp' ? p.net.tcp.dport : p.net.udp.dport;
      // (src IP, sport) identifies a client connection well enough; a clash across dports is
      // harmless here (it only merges two connections in a count).
      const key = ip.src4 * 65536 + sport;
      const c = agg.conns.get(key);
      if (c !== undefined) c.frames++;
      else {
        agg.connCount++;
        if (agg.conns.size < MAX_CONNS_PER_AGG) {
          agg.conns.set(key, {
            proto: l4 === 'tcp' ? IpProto.TCP : IpProto.UDP,
            src: ip.src4,
            sport,
            dport,
            first: where(p, point),
            frames: 1,
          });
        }
      }
    }
  }
}

/** Form of a gratuitous ARP (lvs-behavior.md §4 "Gratuitous ARP formats"). */
export function garpForm(r: ArpRecord): GarpForm {
  if (r.op === 2) return 'reply';
  if (r.tha === BROADCAST_MAC) return 'keepalived';
  if (r.tha === ZERO_MAC) return 'kernel';
  return 'request';
}

/** Time order, stream order for ties: captures from several points interleave correctly. */
export function byTime(a: Where & { seq?: number }, b: Where & { seq?: number }): number {
  return a.tsNs - b.tsNs || (a.seq ?? 0) - (b.seq ?? 0);
}

/** Two observations closer than this in time, with identical ARP and link fields, from
 *  different capture files, are one packet seen at two points. */
const COPY_WINDOW_NS = 50e6;

/**
 * One packet captured at several points (client, router, director, RS all see a broadcast
 * who-has) must count once: keeps the earliest observation, lists the others in `copies`.
 * Input and output are in time order.
 */
export function mergeCopies(sorted: readonly ArpRecord[]): ArpRecord[] {
  const out: ArpRecord[] = [];
  const last = new Map<string, ArpRecord>();
  for (const r of sorted) {
    const key = `${r.vlan}|${r.op}|${r.sha}|${r.spa}|${r.tha}|${r.tpa}|${r.ethSrc}`;
    const c = last.get(key);
    if (
      c !== undefined &&
      r.tsNs - c.tsNs <= COPY_WINDOW_NS &&
      c.capture !== r.capture &&
      !c.copies.some((w) => w.capture === r.capture)
    ) {
      c.copies.push({ capture: r.capture, frame: r.frame, point: r.point, tsSec: r.tsSec, tsNsec: r.tsNsec, tsNs: r.tsNs });
      continue;
    }
    last.set(key, r);
    out.push(r);
  }
  return out;
}
