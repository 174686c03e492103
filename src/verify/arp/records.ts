/**
 * What the ARP engine keeps from the packet stream. ARP and IPv6 neighbor discovery are rare, so
 * each ARP packet and each neighbor solicitation or advertisement becomes a small record (copied
 * out of the reused Packet view; NDP written as the ARP it stands for, RFC 4861 §7). IP frames
 * are many, so they are only counted into aggregates keyed by numbers — (VLAN, IP dst, Ethernet
 * src, Ethernet dst), and for the VIPs' replies (VLAN, IP src, Ethernet src) — which allocate once
 * per new key and never per frame. Addresses of both families are numbers (`AddressBook`).
 */
import type { Packet } from '../../decode/packet.js';
import { IpProto } from '../../decode/packet.js';
import { frameTimeNs } from '../../decode/frame.js';
import { AddressBook } from './addr.js';
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
  /** An IPv6 neighbor solicitation (op 1) or advertisement (op 2), not ARP. Its addresses are
   *  AddressBook keys: spa the solicitor (NS) or the target advertised (NA), tpa the target (NS)
   *  or the IPv6 destination (NA); sha the link-layer option or else the Ethernet source. */
  ndp: boolean;
  op: number;
  sha: number;
  spa: number;
  tha: number;
  tpa: number;
  /** Link-layer source (Ethernet or SLL address); null when the link layer has none. */
  ethSrc: number | null;
  ethDst: number | null;
  /** spa == tpa != 0; for NDP an unsolicited advertisement (S flag clear). */
  gratuitous: boolean;
  /** RFC 5227 probe (spa 0.0.0.0) or duplicate address detection (NS from ::): claims nothing. */
  probe: boolean;
  /** The same packet seen at other capture points (filled by `mergeCopies`). */
  copies: Where[];
}

export interface ConnRecord {
  proto: number;
  src: number;
  sport: number;
  dport: number;
  /** Where it was first seen; `UNLISTED` for a connection only counted (not in `IpAgg.conns`). */
  first: Where;
  frames: number;
}

/** The `first` of connections past the evidence bound: nothing reads it, so none is allocated. */
export const UNLISTED: Readonly<Where> = Object.freeze({ capture: '', frame: 0, point: '', tsSec: 0, tsNsec: 0, tsNs: 0 });

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
  /** The first TCP/UDP connections (bounded, for evidence); `connCount` counts them all, up to
   *  the index bound: past it, new ones are no longer told from seen ones (`connCountCapped`). */
  conns: Map<number, ConnRecord>;
  connCount: number;
  /** The index was full: `connCount` is a lower bound. */
  connCountCapped: boolean;
  /** sport·2^32 + src IP (unsigned) → connection: the counting index. One flat Map: a Map per
   *  source port cost an allocation per new connection of a client. */
  connIndex: Map<number, ConnRecord>;
  /** Previous frame's connection: a repeat skips the lookup. */
  lastConn: ConnRecord | null;
}

/**
 * Frames sent from a VIP by one MAC: the service's replies. In DR and TUN a real server sends
 * them itself, so they leave it with the initial TTL / hop limit; a NAT director forwards them,
 * one lower.
 */
export interface ReplyAgg {
  vlan: string;
  vip: number;
  srcMac: number;
  frames: number;
  /** Frames whose TTL / hop limit is an initial value (64, 128, 255): sent, not forwarded. */
  unforwarded: number;
  first: Where;
  /** Their TTL / hop limit as first seen. */
  firstTtl: number;
}

/** Bounds: nothing in a sane capture reaches them; reaching one is counted in stats.dropped. */
export const MAX_ARP_RECORDS = 500_000;
export const MAX_IP_AGGS = 200_000;
export const MAX_REPLY_AGGS = 4096;
const MAX_CONNS_PER_AGG = 64;
const MAX_SRC_IPS = 16;
/** Connections tracked per aggregate for counting (beyond: the count is a lower bound). */
const MAX_CONN_INDEX = 1_000_000;

/** Where frames of connections past the index bound are counted: not told apart, not kept. */
const UNINDEXED: ConnRecord = { proto: 0, src: 0, sport: -1, dport: 0, first: UNLISTED, frames: 0 };

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

function where(p: Packet, point: string, tsNs: number): Where {
  return {
    capture: p.capture,
    frame: p.frame,
    point,
    tsSec: p.tsSec,
    tsNsec: p.tsNsec,
    tsNs,
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

/** Per capture point: unicast frames per MAC id (source or destination). */
interface PointState {
  name: string;
  /** By MAC id, packed (every id below the length holds a number). */
  counts: number[];
}

/**
 * Per capture file. verify interleaves its captures packet by packet, each read through its own
 * decoder, so a file is recognised by its reused Packet view (one pointer compare) before its
 * name is looked up. Each file keeps a memo of what its previous frames resolved to: the point,
 * the VIP verdicts of the last destinations and the last aggregate. A frame like the previous
 * ones of its capture then costs a few compares, no Map lookup and no allocation. Every memo
 * only repeats an answer the full path gave, so what is recorded is the same without it.
 */
interface CaptureState {
  name: string;
  /** The Packet view the file's frames came in last (a reader reuses it), null before. */
  view: Packet | null;
  startNs: number;
  endNs: number;
  /** By MAC id, packed: 1 when a unicast frame to that MAC was captured (can it see a reply to it?). */
  unicastTo: number[];
  /** By MAC id: 1 once the MAC was seen as the source of a frame of this capture. A learning
   *  bridge knows where such a MAC is and stops flooding frames for it to other ports. */
  sent: number[];
  /** By MAC id, packed: who sent unicast frames to that MAC once it had been seen sending —
   *  sender id + 1 when one sender, −1 several, 0 none. Frames to a MAC not yet seen sending
   *  are left out: a switch floods them to every port until the host speaks (a silent real
   *  server, a host that is down), so they say nothing of what this port is shown. A capture
   *  whose host is the only sender to a MAC sees none of the frames others send it. */
  learnedFrom: number[];
  /** Point of the previous frame (the same string object in the ordinary case). */
  ptName: string;
  pt: PointState | null;
  /** The MAC pair of the previous unicast frame, either direction: (first 2 bytes, last 4 as
   *  int32) and id of each; hiA −1 = none. Frames between the same two MACs each add one to both
   *  MACs' counts whichever way they go, so they are only counted (`pairFrames`) and added to
   *  the point's counts when the pair or point changes, or the counts are read. */
  hiA: number;
  loA: number;
  idA: number;
  hiB: number;
  loB: number;
  idB: number;
  pairFrames: number;
  /** The last IPv4 destination found aggregated and the last two found not (isVip is fixed),
   *  vipNo0 the more recently used: a conversation's directions, and on a director's RS side
   *  the client plus the real servers in turn. −1 = none (addresses are unsigned). */
  vipYes: number;
  vipNo0: number;
  vipNo1: number;
  /** The same memo for IP sources (replies from a VIP), and the last reply aggregate. */
  srcYes: number;
  srcNo0: number;
  srcNo1: number;
  reply: ReplyAgg | null;
  /** Last aggregate with its key (VLAN key, dst int32, MAC ids), and the point and IP source
   *  this capture last added to its Sets (adding again would change nothing: a Set at its bound
   *  never shrinks). Per capture, since one aggregate is seen at several points in turn. */
  agg: IpAgg | null;
  aggPoint: string;
  aggSrc: number;
  aggVk: number;
  aggDst: number;
  aggSrcId: number;
  aggDstId: number;
}

/** Adds the capture's pending frames of its MAC pair to the point's counts (one each per frame). */
function flushPair(cap: CaptureState): void {
  if (cap.pairFrames === 0) return;
  const counts = cap.pt!.counts;
  counts[cap.idA] += cap.pairFrames;
  counts[cap.idB] += cap.pairFrames;
  cap.pairFrames = 0;
}

const AGG_SLOTS = 1024;
const MAX_SCANNED_CAPTURES = 16;
const CONN_SLOTS = 4096;

export class ArpCollector {
  readonly arp: ArpRecord[] = [];
  readonly aggs: IpAgg[] = [];
  readonly replies: ReplyAgg[] = [];
  private readonly replyIndex = new Map<string, ReplyAgg>();
  private readonly macIds = new MacIds();
  /** vlanKey → IP dst (int32) → dst MAC id → src MAC id → aggregate. */
  private readonly aggIndex = new Map<number, Map<number, Map<number, Map<number, IpAgg>>>>();
  /** Direct-mapped cache in front of aggIndex: most frames belong to a flow seen just before. */
  private readonly aggCacheKey = new Float64Array(AGG_SLOTS * 4).fill(-1);
  private readonly aggCache: Array<IpAgg | undefined> = new Array<IpAgg | undefined>(AGG_SLOTS);
  /** Direct-mapped cache in front of every aggregate's connIndex, for indexed connections only
   *  (an unindexed one must keep counting as new, as the index would). */
  private readonly connCache: Array<ConnRecord | undefined> = new Array<ConnRecord | undefined>(CONN_SLOTS);
  private readonly connCacheAgg: Array<IpAgg | undefined> = new Array<IpAgg | undefined>(CONN_SLOTS);
  private readonly captures = new Map<string, CaptureState>();
  /** The first captures, scanned by view before the Map is asked. */
  private readonly captureList: CaptureState[] = [];
  private readonly points = new Map<string, PointState>();
  private cap: CaptureState | null = null;
  frames = 0;
  vipFrames = 0;
  dropped = 0;
  private seq = 0;

  /** `isVip` decides which IP frames are aggregated: all (VIPs inferred later) or only VIPs.
   *  It must answer the same for the same address key every time (its answers are memoised).
   *  `vipsGiven`: isVip knows the VIPs (they are in `addrs`), so frames sent from a VIP are
   *  aggregated too and IPv6 addresses of other frames need not be interned. */
  readonly addrs: AddressBook;
  private readonly vipsGiven: boolean;
  /** Connections indexed per aggregate (tests lower it). */
  private readonly maxConnIndex: number;

  constructor(
    private readonly isVip: (addr: number) => boolean,
    opts: { addrs?: AddressBook; vipsGiven?: boolean; maxConnIndex?: number } = {},
  ) {
    this.addrs = opts.addrs ?? new AddressBook();
    this.vipsGiven = opts.vipsGiven ?? false;
    this.maxConnIndex = opts.maxConnIndex ?? MAX_CONN_INDEX;
  }

  observe(p: Packet, point: string): void {
    this.frames++;
    const tsNs = frameTimeNs(p);
    let cap = this.cap;
    if (cap === null || cap.view !== p || cap.name !== p.capture) {
      cap = this.findCapture(p, tsNs);
      this.cap = cap;
    }
    if (tsNs > cap.endNs) cap.endNs = tsNs;
    if (cap.pt === null || cap.ptName !== point) {
      flushPair(cap);
      cap.pt = this.points.get(point) ?? this.newPoint(point);
      cap.ptName = point;
      cap.hiA = cap.hiB = -1; // the pair's ids were made to fit the old point's counts only
    }

    let srcId = -1;
    let dstId = -1;
    const buf = p.buf;
    const d = p.eth.dstOff;
    if (p.eth.present && (buf[d]! & 1) === 0) {
      // Unicast only: other hosts' broadcasts reach every capture and say nothing about its host.
      const s = p.eth.srcOff;
      const dHi = (buf[d]! << 8) | buf[d + 1]!;
      const dLo = (buf[d + 2]! << 24) | (buf[d + 3]! << 16) | (buf[d + 4]! << 8) | buf[d + 5]!;
      const sHi = (buf[s]! << 8) | buf[s + 1]!;
      const sLo = (buf[s + 2]! << 24) | (buf[s + 3]! << 16) | (buf[s + 4]! << 8) | buf[s + 5]!;
      if (dHi === cap.hiA && dLo === cap.loA && sHi === cap.hiB && sLo === cap.loB) {
        dstId = cap.idA;
        srcId = cap.idB;
      } else if (dHi === cap.hiB && dLo === cap.loB && sHi === cap.hiA && sLo === cap.loA) {
        dstId = cap.idB;
        srcId = cap.idA;
      } else {
        flushPair(cap);
        dstId = this.macIds.id(buf, d);
        srcId = this.macIds.id(buf, s);
        // Ids grow by one per new MAC: extending with zeros keeps the arrays packed.
        const pt = cap.pt;
        if (dstId >= cap.unicastTo.length || dstId >= pt.counts.length || srcId >= pt.counts.length) this.grow(cap, pt);
        cap.hiA = dHi;
        cap.loA = dLo;
        cap.idA = dstId;
        cap.hiB = sHi;
        cap.loB = sLo;
        cap.idB = srcId;
      }
      cap.pairFrames++;
      cap.unicastTo[dstId] = 1;
      if (cap.sent[dstId] === 1) {
        const learned = cap.learnedFrom[dstId]!;
        if (learned !== srcId + 1 && learned !== -1) cap.learnedFrom[dstId] = learned === 0 ? srcId + 1 : -1;
      }
      cap.sent[srcId] = 1;
    } else if (p.eth.present) {
      // A broadcast or multicast sender is learnt by the bridge all the same.
      const srcMac = this.macIds.id(buf, p.eth.srcOff);
      if (srcMac >= cap.sent.length || srcMac >= cap.pt.counts.length) this.grow(cap, cap.pt);
      cap.sent[srcMac] = 1;
    }
    if (p.arp.present && p.arp.isEthIpv4) {
      this.observeArp(p, point, tsNs);
      return;
    }
    const ip = p.net.ip;
    if (ip.version === 6 && p.net.l4 === 'icmpv6' && p.net.icmp.ndTargetOff >= 0) this.observeNdp(p, point, tsNs);
    if (dstId < 0) return;
    let dst: number;
    if (ip.version === 4) dst = ip.dst4;
    else if (ip.version === 6) dst = this.addrs.key6(p.buf, ip.dstOff, !this.vipsGiven);
    else return;
    if (dst === cap.vipYes) this.observeIp(p, point, cap, dst, srcId, dstId);
    else if (dst !== cap.vipNo0) {
      if (dst === cap.vipNo1) {
        cap.vipNo1 = cap.vipNo0;
        cap.vipNo0 = dst;
      } else if (dst >= 0 && this.isVip(dst)) {
        cap.vipYes = dst;
        this.observeIp(p, point, cap, dst, srcId, dstId);
      } else {
        cap.vipNo1 = cap.vipNo0;
        cap.vipNo0 = dst;
      }
    }
    // The service's replies: TCP or UDP from a VIP (a director's own neighbor advertisements and
    // ICMP come from the VIP too). VIPs are given, so an IPv6 source is only looked up.
    if (!this.vipsGiven || (p.net.l4 !== 'tcp' && p.net.l4 !== 'udp')) return;
    const src = ip.version === 4 ? ip.src4 : this.addrs.key6(p.buf, ip.srcOff, false);
    if (src === cap.srcYes) this.observeReply(p, point, cap, src, srcId);
    else if (src !== cap.srcNo0) {
      if (src === cap.srcNo1) {
        cap.srcNo1 = cap.srcNo0;
        cap.srcNo0 = src;
      } else if (src >= 0 && this.isVip(src)) {
        cap.srcYes = src;
        this.observeReply(p, point, cap, src, srcId);
      } else {
        cap.srcNo1 = cap.srcNo0;
        cap.srcNo0 = src;
      }
    }
  }

  /** One frame sent from a VIP by the MAC of id `srcId`. */
  private observeReply(p: Packet, point: string, cap: CaptureState, vip: number, srcId: number): void {
    const mac = this.macIds.macs[srcId]!;
    let r = cap.reply;
    if (r === null || r.vip !== vip || r.srcMac !== mac) {
      const vlan = vlanText(p);
      const key = `${vlan}|${vip}|${mac}`;
      r = this.replyIndex.get(key) ?? null;
      if (r === null) {
        if (this.replies.length >= MAX_REPLY_AGGS) {
          this.dropped++;
          return;
        }
        r = { vlan, vip, srcMac: mac, frames: 0, unforwarded: 0, first: where(p, point, frameTimeNs(p)), firstTtl: p.net.ip.ttl };
        this.replyIndex.set(key, r);
        this.replies.push(r);
      }
      cap.reply = r;
    }
    r.frames++;
    const ttl = p.net.ip.ttl;
    if (ttl === 64 || ttl === 128 || ttl === 255) r.unforwarded++;
  }

  /** The state of p's capture file, made on its first frame; remembers p as the file's view. */
  private findCapture(p: Packet, tsNs: number): CaptureState {
    for (const c of this.captureList) if (c.view === p && c.name === p.capture) return c;
    const c = this.captures.get(p.capture) ?? this.newCapture(p.capture, tsNs);
    c.view = p;
    return c;
  }

  private newCapture(name: string, tsNs: number): CaptureState {
    const c: CaptureState = {
      name,
      view: null,
      startNs: tsNs,
      endNs: tsNs,
      unicastTo: [],
      sent: [],
      learnedFrom: [],
      ptName: '',
      pt: null,
      hiA: -1,
      loA: 0,
      idA: 0,
      hiB: -1,
      loB: 0,
      idB: 0,
      pairFrames: 0,
      vipYes: -1,
      vipNo0: -1,
      vipNo1: -1,
      srcYes: -1,
      srcNo0: -1,
      srcNo1: -1,
      reply: null,
      agg: null,
      aggPoint: '',
      aggSrc: -1,
      aggVk: -1,
      aggDst: 0,
      aggSrcId: -1,
      aggDstId: -1,
    };
    this.captures.set(name, c);
    if (this.captureList.length < MAX_SCANNED_CAPTURES) this.captureList.push(c);
    return c;
  }

  private newPoint(name: string): PointState {
    const s: PointState = { name, counts: [] };
    this.points.set(name, s);
    return s;
  }

  /** Adds every capture's pending pair frames to its point's counts (before they are read). */
  private flushPairs(): void {
    for (const c of this.captures.values()) flushPair(c);
  }

  private grow(cap: CaptureState, pt: PointState): void {
    const n = this.macIds.macs.length;
    while (cap.unicastTo.length < n) cap.unicastTo.push(0);
    while (cap.sent.length < n) cap.sent.push(0);
    while (cap.learnedFrom.length < n) cap.learnedFrom.push(0);
    while (pt.counts.length < n) pt.counts.push(0);
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

  /** Per capture file: the MACs it saw unicast frames delivered to from a host other than its
   *  own. Its own host is the MAC in most of its point's unicast frames; two MACs level at the
   *  top (a capture of two hosts talking) could each be it, so neither counts as a sender. A
   *  capture that shows unicast between two hosts neither of which can be its own is a mirror
   *  port or a hub: there every sender counts. Only frames to a MAC already seen sending count
   *  (learnedFrom): the others may be a switch's flooding. */
  get unicastSeenFromOthers(): Map<string, Set<number>> {
    this.flushPairs();
    const out = new Map<string, Set<number>>();
    for (const c of this.captures.values()) {
      const counts = c.pt?.counts ?? [];
      let best = 0;
      for (const n of counts) if (n > best) best = n;
      const own = (id: number): boolean => best > 0 && counts[id] === best;
      const mirror = c.learnedFrom.some((from, id) => from !== 0 && !own(id) && (from === -1 || !own(from - 1)));
      const set = new Set<number>();
      c.learnedFrom.forEach((from, id) => {
        if (from === -1 || (from > 0 && (mirror || !own(from - 1)))) set.add(this.macIds.macs[id]!);
      });
      out.set(c.name, set);
    }
    return out;
  }

  /** Per point: how often each MAC is source or destination of a unicast frame. The capture
   *  host's own MAC is in every unicast frame it captures, so it has the top count (or a tie
   *  with its only peer). */
  get pointMacs(): Map<string, Map<number, number>> {
    this.flushPairs();
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

  private observeArp(p: Packet, point: string, tsNs: number): void {
    if (this.arp.length >= MAX_ARP_RECORDS) {
      this.dropped++;
      return;
    }
    this.arp.push(fillArpRecord(newArpRecord(), p, point, tsNs, this.seq++));
  }

  /** A neighbor solicitation or advertisement, as the ARP packet it stands for (fillNdpRecord). */
  private observeNdp(p: Packet, point: string, tsNs: number): void {
    if (this.arp.length >= MAX_ARP_RECORDS) {
      this.dropped++;
      return;
    }
    const r = fillNdpRecord(newArpRecord(), p, point, tsNs, this.seq, this.addrs);
    if (r === null) return;
    this.seq++;
    this.arp.push(r);
  }

  private observeIp(p: Packet, point: string, cap: CaptureState, dstKey: number, srcId: number, dstId: number): void {
    const ip = p.net.ip;
    this.vipFrames++;
    const vk = vlanKey(p);
    const v6 = ip.version === 6;
    // int32 for IPv4: a small-integer Map key; an IPv6 key is above 2^32 and stays as it is.
    const dst = v6 ? dstKey : dstKey | 0;
    let agg = cap.agg;
    if (agg === null || cap.aggDst !== dst || cap.aggSrcId !== srcId || cap.aggDstId !== dstId || cap.aggVk !== vk) {
      agg = this.findAgg(p, point, vk, dst, srcId, dstId);
      if (agg === null) return; // bound reached (counted)
      cap.agg = agg;
      cap.aggPoint = '';
      cap.aggSrc = -1;
      cap.aggDst = dst;
      cap.aggSrcId = srcId;
      cap.aggDstId = dstId;
      cap.aggVk = vk;
    }
    agg.frames++;
    agg.lastTsNs = frameTimeNs(p);
    // Each check first compares with the capture's previous frame of the flow, so the Sets are
    // only touched when something changed.
    if (cap.aggPoint !== point) {
      cap.aggPoint = point;
      agg.points.add(point);
    }
    const src4 = v6 ? this.addrs.key6(p.buf, ip.srcOff) : ip.src4;
    if (cap.aggSrc !== src4) {
      cap.aggSrc = src4;
      if (agg.srcIps.size < MAX_SRC_IPS) agg.srcIps.add(src4);
    }
    const l4 = p.net.l4;
    if (l4 === 'tcp' || l4 === 'udp') {
      const sport = l4 === 'tcp' ? p.net.tcp.sport : p.net.udp.sport;
      const last = agg.lastConn;
      if (last !== null && last.sport === sport && last.src === src4) {
        last.frames++;
        return;
      }
      // (src IP, sport) identifies a client connection well enough; a clash across dports only
      // merges two connections in a count.
      const slot = (Math.imul(sport, 0x9e3779b1) ^ (src4 | 0) ^ ((src4 | 0) >>> 13)) & (CONN_SLOTS - 1);
      let c = this.connCache[slot];
      if (c === undefined || c.sport !== sport || c.src !== src4 || this.connCacheAgg[slot] !== agg) {
        c = this.findConn(p, point, agg, l4, sport, src4, slot);
      }
      c.frames++;
      agg.lastConn = c;
    }
  }

  /** The aggregate of (VLAN, dst, dst MAC, src MAC), made on first sight; null past the bound. */
  private findAgg(p: Packet, point: string, vk: number, dst: number, srcId: number, dstId: number): IpAgg | null {
    const slot = ((dst ^ (dst >>> 12) ^ (srcId * 31) ^ (dstId * 17) ^ vk) >>> 0) % AGG_SLOTS;
    const k = slot * 4;
    const ck = this.aggCacheKey;
    // The MAC ids are compared one by one: packed into one number they would clash past 65536 MACs.
    if (ck[k] === dst && ck[k + 1] === srcId && ck[k + 2] === dstId && ck[k + 3] === vk) {
      const hit = this.aggCache[slot];
      if (hit !== undefined) return hit;
    }
    const byDstMac = level(level(this.aggIndex, vk, () => new Map()), dst, () => new Map<number, Map<number, IpAgg>>());
    const bySrcMac = level(byDstMac, dstId, () => new Map<number, IpAgg>());
    let agg = bySrcMac.get(srcId);
    if (agg === undefined) {
      if (this.aggs.length >= MAX_IP_AGGS) {
        this.dropped++;
        return null;
      }
      agg = {
        vlan: vlanText(p),
        dst: p.net.ip.version === 6 ? dst : p.net.ip.dst4,
        srcMac: this.macIds.macs[srcId]!,
        dstMac: this.macIds.macs[dstId]!,
        frames: 0,
        first: where(p, point, frameTimeNs(p)),
        // A float from the start: a field that starts as a small integer and then holds floats
        // boxed a heap number per frame.
        lastTsNs: frameTimeNs(p),
        points: new Set(),
        srcIps: new Set(),
        conns: new Map(),
        connCount: 0,
        connCountCapped: false,
        connIndex: new Map(),
        lastConn: null,
      };
      bySrcMac.set(srcId, agg);
      this.aggs.push(agg);
    }
    ck[k] = dst;
    ck[k + 1] = srcId;
    ck[k + 2] = dstId;
    ck[k + 3] = vk;
    this.aggCache[slot] = agg;
    return agg;
  }

  /** The connection (src IP, sport) of `agg` from its index, or a new one (counted); an indexed
   *  one goes into the cache at `slot`. */
  private findConn(p: Packet, point: string, agg: IpAgg, l4: 'tcp' | 'udp', sport: number, src4: number, slot: number): ConnRecord {
    // An IPv6 source key is above 2^32 (or −1 when the book is full): negative keys keep the
    // families apart.
    const key = src4 >= 0x1_0000_0000 || src4 < 0 ? -(sport * 0x10000 + (src4 < 0 ? 0xffff : src4 - 0x1_0000_0000)) - 1 : sport * 0x1_0000_0000 + src4;
    let c = agg.connIndex.get(key);
    if (c === undefined) {
      if (agg.connIndex.size >= this.maxConnIndex) {
        // A new connection or one seen before: past the bound nobody can tell, so it is not
        // counted (a lower bound, said so) and nothing is kept for it.
        agg.connCountCapped = true;
        return UNINDEXED;
      }
      agg.connCount++;
      const dport = l4 === 'tcp' ? p.net.tcp.dport : p.net.udp.dport;
      // Past the bound connections are still counted (their small record is kept in the
      // index) but not listed as evidence, so they need no place of their own.
      const listed = agg.conns.size < MAX_CONNS_PER_AGG;
      c = { proto: l4 === 'tcp' ? IpProto.TCP : IpProto.UDP, src: src4, sport, dport, first: listed ? where(p, point, frameTimeNs(p)) : UNLISTED, frames: 0 };
      if (listed) agg.conns.set(agg.conns.size, c);
      agg.connIndex.set(key, c);
    }
    this.connCache[slot] = c;
    this.connCacheAgg[slot] = agg;
    return c;
  }
}

/** An empty record, to be filled by `fillArpRecord` (a long-running reader reuses one). */
export function newArpRecord(): ArpRecord {
  return {
    capture: '',
    frame: 0,
    point: '',
    tsSec: 0,
    tsNsec: 0,
    tsNs: 0,
    seq: 0,
    vlan: '',
    ndp: false,
    op: 0,
    sha: 0,
    spa: 0,
    tha: 0,
    tpa: 0,
    ethSrc: null,
    ethDst: null,
    gratuitous: false,
    probe: false,
    copies: [],
  };
}

/** What every record copies of its frame: where and when, the VLAN stack, the link addresses. */
function fillWhere(r: ArpRecord, p: Packet, point: string, tsNs: number, seq: number): void {
  r.capture = p.capture;
  r.frame = p.frame;
  r.point = point;
  r.tsSec = p.tsSec;
  r.tsNsec = p.tsNsec;
  r.tsNs = tsNs;
  r.seq = seq;
  r.vlan = vlanText(p);
  r.ethSrc = null;
  r.ethDst = null;
  if (p.eth.present) {
    r.ethSrc = macNum(p.buf, p.eth.srcOff);
    r.ethDst = macNum(p.buf, p.eth.dstOff);
  } else if (p.sll.present && p.sll.addrLen === 6) {
    r.ethSrc = macNum(p.buf, p.sll.addrOff);
  }
}

/** Copies the ARP fields of `p` (an Ethernet/IPv4 ARP packet) into `r`; returns `r`. The one
 *  place ARP packets become records, for the offline engine and the watcher alike. */
export function fillArpRecord(r: ArpRecord, p: Packet, point: string, tsNs: number, seq: number): ArpRecord {
  const a = p.arp;
  fillWhere(r, p, point, tsNs, seq);
  r.ndp = false;
  r.op = a.op;
  r.sha = macNum(p.buf, a.shaOff);
  r.spa = a.spa;
  r.tha = macNum(p.buf, a.thaOff);
  r.tpa = a.tpa;
  r.gratuitous = a.spa === a.tpa && a.spa !== 0;
  r.probe = a.op === 1 && a.spa === 0;
  if (r.copies.length > 0) r.copies = [];
  return r;
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

/**
 * Copies a neighbor solicitation or advertisement of `p` into `r` as the ARP packet it stands
 * for: NS = who-has target tell source (from :: it is duplicate address detection, a probe),
 * NA = target is-at the target link-layer address (else the frame's source); an advertisement
 * not sent in answer (S clear) is the gratuitous ARP of IPv6 (RFC 4861 §7.2.6). Null when `p` is
 * none, was routed (hop limit not 255, §7.1.1), is a fragment, or names no MAC at all. Addresses
 * are `addrs` keys. The one place NDP packets become records, for the offline engine and the
 * watcher alike.
 */
export function fillNdpRecord(r: ArpRecord, p: Packet, point: string, tsNs: number, seq: number, addrs: AddressBook): ArpRecord | null {
  const ip = p.net.ip;
  const icmp = p.net.icmp;
  if (ip.version !== 6 || p.net.l4 !== 'icmpv6' || icmp.ndTargetOff < 0 || ip.ttl !== 255 || ip.isFragment) return null;
  const buf = p.buf;
  const linkSrc = p.eth.present ? p.eth.srcOff : p.sll.present && p.sll.addrLen === 6 ? p.sll.addrOff : -1;
  const senderOff = icmp.ndLinkAddrOff >= 0 ? icmp.ndLinkAddrOff : linkSrc;
  if (senderOff < 0) return null;
  const target = addrs.key6(buf, icmp.ndTargetOff);
  if (target < 0) return null; // the address book is full
  const solicit = icmp.type === 135;
  const src = addrs.key6(buf, ip.srcOff);
  const dst = addrs.key6(buf, ip.dstOff);
  fillWhere(r, p, point, tsNs, seq);
  r.ndp = true;
  r.op = solicit ? 1 : 2;
  r.sha = macNum(buf, senderOff);
  r.spa = solicit ? Math.max(src, 0) : target;
  r.tha = r.ethDst ?? ZERO_MAC;
  r.tpa = solicit ? target : Math.max(dst, 0);
  r.gratuitous = !solicit && (icmp.ndFlags & 0x40) === 0;
  r.probe = solicit && src === 0;
  if (r.copies.length > 0) r.copies = [];
  return r;
}
