/**
 * What the ARP engine keeps from the packet stream. ARP is rare, so each ARP packet becomes a
 * small record (copied out of the reused Packet view). IPv4 frames are many, so they are only
 * counted into aggregates keyed by numbers — (VLAN, IP dst, Ethernet src, Ethernet dst) — which
 * allocate once per new key and never per frame.
 */
import type { Packet } from '../../decode/packet.js';
import { IpProto } from '../../decode/packet.js';
import { frameTimeNs } from '../../decode/frame.js';
import { MacIds, macNum, BROADCAST_MAC, ZERO_MAC } from './mac.js';

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
  /** The first TCP/UDP connections (bounded, for evidence); `connCount` counts them all. */
  conns: Map<number, ConnRecord>;
  connCount: number;
  /** sport → src IP (int32) → connection: the counting index. */
  connIndex: Map<number, Map<number, ConnRecord>>;
  /** Previous frame's values: repeated ones skip the Set/Map work. */
  lastPoint: string;
  lastSrc: number;
  lastConn: ConnRecord | null;
}

/** Bounds: nothing in a sane capture reaches them; reaching one is counted in stats.dropped. */
export const MAX_ARP_RECORDS = 500_000;
export const MAX_IP_AGGS = 200_000;
const MAX_CONNS_PER_AGG = 64;
const MAX_SRC_IPS = 16;
/** Connections tracked per aggregate for counting (beyond: the count is a lower bound). */
const MAX_CONN_INDEX = 1_000_000;

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

function level<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

/** Per capture file, found by reference compare on the hot path (a reader reuses its name string). */
interface CaptureState {
  name: string;
  startNs: number;
  endNs: number;
  /** By MAC id: 1 when a unicast frame to that MAC was captured (can it see a reply to it?). */
  unicastTo: number[];
}

/** Per capture point: unicast frames per MAC id (source or destination). */
interface PointState {
  name: string;
  counts: number[];
}

const AGG_SLOTS = 1024;

export class ArpCollector {
  readonly arp: ArpRecord[] = [];
  readonly aggs: IpAgg[] = [];
  private readonly macIds = new MacIds();
  /** vlanKey → IP dst (int32) → dst MAC id → src MAC id → aggregate. */
  private readonly aggIndex = new Map<number, Map<number, Map<number, Map<number, IpAgg>>>>();
  /** Direct-mapped cache in front of aggIndex: most frames belong to a flow seen just before. */
  private readonly aggCacheKey = new Float64Array(AGG_SLOTS * 3).fill(-1);
  private readonly aggCache: Array<IpAgg | undefined> = new Array<IpAgg | undefined>(AGG_SLOTS);
  private readonly captures = new Map<string, CaptureState>();
  private readonly points = new Map<string, PointState>();
  private cap: CaptureState | null = null;
  private pt: PointState | null = null;
  frames = 0;
  vipFrames = 0;
  dropped = 0;
  private seq = 0;

  /** `isVip` decides which IPv4 frames are aggregated: all (VIPs inferred later) or only VIPs. */
  constructor(private readonly isVip: (dst4: number) => boolean) {}

  observe(p: Packet, point: string): void {
    this.frames++;
    const tsNs = frameTimeNs(p);
    let cap = this.cap;
    if (cap === null || cap.name !== p.capture) {
      cap = level(this.captures, p.capture, () => ({ name: p.capture, startNs: tsNs, endNs: tsNs, unicastTo: [] }));
      this.cap = cap;
    }
    if (tsNs > cap.endNs) cap.endNs = tsNs;
    let pt = this.pt;
    if (pt === null || pt.name !== point) {
      pt = level(this.points, point, () => ({ name: point, counts: [] }));
      this.pt = pt;
    }

    let srcId = -1;
    let dstId = -1;
    if (p.eth.present && (p.buf[p.eth.dstOff]! & 1) === 0) {
      // Unicast only: other hosts' broadcasts reach every capture and say nothing about its host.
      dstId = this.macIds.id(p.buf, p.eth.dstOff);
      srcId = this.macIds.id(p.buf, p.eth.srcOff);
      cap.unicastTo[dstId] = 1;
      pt.counts[srcId] = (pt.counts[srcId] ?? 0) + 1;
      pt.counts[dstId] = (pt.counts[dstId] ?? 0) + 1;
    }
    if (p.arp.present && p.arp.isEthIpv4) this.observeArp(p, point);
    else if (dstId >= 0 && p.net.ip.version === 4 && this.isVip(p.net.ip.dst4)) this.observeIpv4(p, point, srcId, dstId);
  }

  /** First timestamp per capture file. */
  get captureStart(): Map<string, number> {
    return new Map([...this.captures.values()].map((c) => [c.name, c.startNs]));
  }

  /** Last timestamp per capture file: requests too close to the end cannot be judged unanswered. */
  get captureEnd(): Map<string, number> {
    return new Map([...this.captures.values()].map((c) => [c.name, c.endNs]));
  }

  /** Per capture file: the MACs unicast frames were delivered to. */
  get unicastSeen(): Map<string, Set<number>> {
    const out = new Map<string, Set<number>>();
    for (const c of this.captures.values()) {
      const set = new Set<number>();
      c.unicastTo.forEach((v, id) => {
        if (v) set.add(this.macIds.macs[id]!);
      });
      out.set(c.name, set);
    }
    return out;
  }

  /** Per point: how often each MAC is source or destination of a unicast frame. The capture
   *  host's own MAC is in every unicast frame it captures, so it has the top count (or a tie
   *  with its only peer). */
  get pointMacs(): Map<string, Map<number, number>> {
    const out = new Map<string, Map<number, number>>();
    for (const pt of this.points.values()) {
      const m = new Map<number, number>();
      pt.counts.forEach((n, id) => {
        if (n) m.set(this.macIds.macs[id]!, n);
      });
      out.set(pt.name, m);
    }
    return out;
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

  private observeIpv4(p: Packet, point: string, srcId: number, dstId: number): void {
    const ip = p.net.ip;
    this.vipFrames++;
    const vk = vlanKey(p);
    const dst = ip.dst4 | 0; // int32: a small-integer Map key
    const slot = ((dst ^ (dst >>> 12) ^ (srcId * 31) ^ (dstId * 17) ^ vk) >>> 0) % AGG_SLOTS;
    const k = slot * 3;
    let agg: IpAgg | undefined;
    if (this.aggCacheKey[k] === dst && this.aggCacheKey[k + 1] === srcId * 65536 + dstId && this.aggCacheKey[k + 2] === vk) {
      agg = this.aggCache[slot];
    }
    if (agg === undefined) {
      const byDstMac = level(level(this.aggIndex, vk, () => new Map()), dst, () => new Map<number, Map<number, IpAgg>>());
      const bySrcMac = level(byDstMac, dstId, () => new Map<number, IpAgg>());
      agg = bySrcMac.get(srcId);
      if (agg === undefined) {
        if (this.aggs.length >= MAX_IP_AGGS) {
          this.dropped++;
          return;
        }
        agg = {
          vlan: vlanText(p),
          dst: ip.dst4,
          srcMac: this.macIds.macs[srcId]!,
          dstMac: this.macIds.macs[dstId]!,
          frames: 0,
          first: where(p, point),
          lastTsNs: 0,
          points: new Set(),
          srcIps: new Set(),
          conns: new Map(),
          connCount: 0,
          connIndex: new Map(),
          lastPoint: '',
          lastSrc: -1,
          lastConn: null,
        };
        bySrcMac.set(srcId, agg);
        this.aggs.push(agg);
      }
      this.aggCacheKey[k] = dst;
      this.aggCacheKey[k + 1] = srcId * 65536 + dstId;
      this.aggCacheKey[k + 2] = vk;
      this.aggCache[slot] = agg;
    }
    agg.frames++;
    agg.lastTsNs = frameTimeNs(p);
    // Each check first compares with the previous frame of the flow, so the Sets are only
    // touched when something changed.
    if (agg.lastPoint !== point) {
      agg.lastPoint = point;
      agg.points.add(point);
    }
    if (agg.lastSrc !== ip.src4) {
      agg.lastSrc = ip.src4;
      if (agg.srcIps.size < MAX_SRC_IPS) agg.srcIps.add(ip.src4);
    }
    const l4 = p.net.l4;
    if (l4 === 'tcp' || l4 === 'udp') {
      const sport = l4 === 'tcp' ? p.net.tcp.sport : p.net.udp.sport;
      const dport = l4 === 'tcp' ? p.net.tcp.dport : p.net.udp.dport;
      const last = agg.lastConn;
      if (last !== null && last.sport === sport && last.src === ip.src4) {
        last.frames++;
        return;
      }
      // (src IP, sport) identifies a client connection well enough; a clash across dports only
      // merges two connections in a count. Keys are small integers: no allocation per lookup.
      const bySrc = level(agg.connIndex, sport, () => new Map<number, ConnRecord>());
      let c = bySrc.get(ip.src4 | 0);
      if (c === undefined) {
        agg.connCount++;
        c = { proto: l4 === 'tcp' ? IpProto.TCP : IpProto.UDP, src: ip.src4, sport, dport, first: where(p, point), frames: 0 };
        // Past the bound connections are still counted (their small record is kept in the
        // index) but not listed as evidence.
        if (agg.conns.size < MAX_CONNS_PER_AGG) agg.conns.set(agg.conns.size, c);
        if (agg.connCount < MAX_CONN_INDEX) bySrc.set(ip.src4 | 0, c);
      }
      c.frames++;
      agg.lastConn = c;
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
