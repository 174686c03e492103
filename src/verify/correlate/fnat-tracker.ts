/**
 * Correlation for FullNAT services (lvs-behavior.md §2.1, §3.1).
 *
 * A FullNAT director rewrites both ends: the client leg is CIP:cport ↔ VIP:vport, the RS leg is
 * LIP:lport ↔ RIP:rport, and the client's sequence space is shifted by a per-connection delta.
 * Nothing the NAT/DR/TUN tracker keys on survives, so this tracker follows the two legs
 * separately and links them by what FullNAT leaves alone:
 *  - the SYN: the director forwards the client's SYN with its IP ID unchanged (§2.1 "ID/TOS/DF
 *    unchanged"), so an RS-leg SYN is the client SYN with the same IP ID seen just before it;
 *    on IPv6, which has no ID, the flow label plays that part where the director keeps it
 *    (DPVS does, on both legs: fixtures/lab/dpvs-fullnat-ipv6) — see synMark;
 *  - the SYN-ACK: the RS's ISN is not shifted (no synproxy), so both legs' SYN-ACKs carry the
 *    same seq — this link survives a director capture that is missing.
 * UDP has neither: a UDP connection (DPVS FullNAT UDP, §3.3) is linked by the first datagram
 * of its RS leg, which is a client datagram with the same payload (length and hash) and IP ID
 * (both kept by the director), seen within the window.
 * The TOA and UOA are deliberately not used to link: naming the wrong client is a fault to report.
 *
 * Within a linked connection the copies of one packet are grouped into traces by the fields the
 * director does not shift: client → RS by (ack, flags, payload length), RS → client by (seq,
 * flags, payload length), preferring the copy with the same IP ID. The seq of client packets
 * and the ack of RS packets are what the delta rules judge, so they are kept out of the key: a
 * drifting delta is reported as fnat.seq-delta, not as a packet that was never forwarded.
 *
 * Same streaming contract as ConnectionTracker: add() in corrected-time order, sweep(now)
 * finalises connections closed (or idle) for longer than the grace, finish() the rest.
 */
import { isSyn, isSynAck } from '../../decode/proto/tcp.js';
import { TcpOpt, tcpOptionLength } from '../../decode/proto/tcp-options.js';
import { IDLE_STEP_WINDOWS, newConnection, udpSchedulingEvidence } from './connections.js';
import type { Connection } from '../model/connection.js';
import { FIT_BEST, FIT_MAYBE, FIT_NO, groupTraces, joinSegments, type TraceGrouping } from './traces.js';
import type { EngineContext } from './context.js';
import { numericKey, refOf } from '../read/record.js';
import type { PacketRecord, PacketRef, Role } from '../model/record.js';
import { LiveConnections, noteClose } from './live.js';
import { LipPortCounter } from './lip-ports.js';

export interface FnatLeg {
  lip: string;
  lport: number;
  rip: string;
  rport: number;
  /** seq of the SYN toward the RS (client ISN + delta), null when the SYN was not seen. */
  synSeq: number | null;
  /** RS ISN (its SYN-ACK seq), null until seen. */
  rsIsn: number | null;
  /** Records held until the leg is linked to its client connection. */
  records: PacketRecord[];
  firstT: number;
  lastT: number;
  closed: boolean;
  finC2s: boolean;
  finS2c: boolean;
  conn: Connection | null;
  linkedBy: 'syn' | 'syn-ack' | 'datagram' | null;
  /** Another live leg on the same LIP:lport → RIP:rport when this one started (fnat.src). */
  reuseOf: { client: string; cport: number; since: number; ref: PacketRef | null } | null;
  synRef: PacketRef | null;
}

export interface FnatInfo {
  leg: FnatLeg | null;
  clientFamily: 4 | 6;
}

const infos = new WeakMap<Connection, FnatInfo>();

/** FullNAT facts of a connection built by FnatTracker (undefined for other trackers' connections). */
export function fnatInfo(c: Connection): FnatInfo | undefined {
  return infos.get(c);
}

interface Stamped<T> {
  v: T;
  t: number;
}

/** A UDP datagram waiting for its copy on the other leg: payload length and IP ID beside the hash key. */
interface Datagram<T> extends Stamped<T> {
  len: number;
  id: number;
}

export class FnatTracker {
  readonly all: Connection[] = [];
  /** RS-leg connections never linked to a client connection (RS capture only, or unmatched). */
  unlinkedLegs = 0;
  /** The connections holding records, and the counters that show memory stays bounded. */
  readonly liveSet = new LiveConnections();
  private readonly current = new Map<string, Connection>();
  private readonly legs = new Map<string, FnatLeg[]>();
  private readonly unlinked = new Set<FnatLeg>();
  private readonly clientSynById = new Map<number, Stamped<Connection>[]>();
  private readonly legSynById = new Map<number, Stamped<FnatLeg>[]>();
  private readonly clientSynAck = new Map<number, Stamped<Connection>>();
  private readonly legSynAck = new Map<number, Stamped<FnatLeg>>();
  /** UDP: client-leg and RS-leg datagrams of not yet linked connections / legs, by payload hash. */
  private readonly clientDgram = new Map<number, Datagram<Connection>[]>();
  private readonly legDgram = new Map<number, Datagram<FnatLeg>[]>();
  /** Local addresses: the configured ones, and each source of an RS leg that linked to a client
   *  connection (only the director translates a client's SYN, so that source is a LIP of it). A
   *  leg from one of them to an address that is no configured real server is still followed:
   *  it is the director's decision, which sched.unknown-rs judges. */
  private readonly lips: Set<string>;

  constructor(
    private readonly ctx: EngineContext,
    private readonly onFinal: (c: Connection) => void,
    private readonly idleNs = 60e9,
  ) {
    this.lips = new Set(ctx.service.localAddresses);
    const s = ctx.service;
    ctx.lipPorts = LipPortCounter.forService(ctx.profile, s.localAddresses, s.vip, s.vport);
    ctx.fnatSeen = this.seen;
  }

  /** What the capture has shown of forwarding so far (EngineContext.fnatSeen). */
  private readonly seen = { egress: false, delivered: false, firstEgressT: Infinity };

  /** An RS-leg packet: to/from a configured RIP, on its port — or on any port when the other
   *  end is a configured local address (a director using the wrong port is fnat.src, not noise). */
  private rsLegEnd(rip: string, port: number, other: string): boolean {
    const rs = this.ctx.rsByIp.get(rip);
    if (!rs) return false;
    return rs.port === 0 || rs.port === port || this.ctx.service.vport === 0 || this.ctx.service.localAddresses.includes(other);
  }

  /** How strongly this service owns a record, by the addresses it carries, 0 when not at all.
   *  Client leg: its VIP:vport (8), its VIP with vport 0 (7). RS leg: one of its RIP:rport from
   *  one of its local addresses (6; 5 with a real server or vport without port), from another
   *  address (4; 3), and a leg of one of its local addresses that no RIP:rport of it explains
   *  (2: services on one LIP reach different real-server ports). Follows add()'s order of
   *  tests, so the owner classifies the record as judged here. With several FullNAT services
   *  the record goes to the strongest (judge.ts). */
  claim(r: PacketRecord): number {
    const { vip, vport, protocol } = this.ctx.service;
    if (r.proto !== protocol || r.ip.mf) return 0;
    const kind = this.ctx.points[r.point]!.kind;
    const vipLevel = vport === 0 ? 7 : 8;
    if (r.ip.dst === vip && (vport === 0 || r.dport === vport)) return kind !== 'rs' ? vipLevel : 0;
    if (r.ip.src === vip && (vport === 0 || r.sport === vport)) return kind !== 'rs' ? vipLevel : 0;
    if (kind === 'client') return 0;
    const toRs = this.rsLegLevel(r.ip.dst, r.dport, r.ip.src);
    if (toRs > 0) return toRs;
    const fromRs = this.rsLegLevel(r.ip.src, r.sport, r.ip.dst);
    if (fromRs > 0) return fromRs;
    return this.lips.has(r.ip.src) || this.lips.has(r.ip.dst) ? 2 : 0;
  }

  private rsLegLevel(rip: string, port: number, other: string): number {
    const rs = this.ctx.rsByIp.get(rip);
    if (!rs) return 0;
    const own = this.lips.has(other) ? 2 : 0;
    if (rs.port === port) return 4 + own;
    if (rs.port === 0 || this.ctx.service.vport === 0) return 3 + own;
    return this.ctx.service.localAddresses.includes(other) ? 2 : 0;
  }

  /** Whether this tracker already follows the connection or leg of a record it claims: breaks a
   *  tie between services claiming it equally (same LIP and RIP:rport behind two VIPs), where
   *  the client SYN the leg's SYN forwards (same IP ID) tells which service scheduled it. */
  follows(r: PacketRecord): boolean {
    const { vip } = this.ctx.service;
    if (r.ip.dst === vip) return this.current.has(`${r.ip.src}|${r.sport}`);
    if (r.ip.src === vip) return this.current.has(`${r.ip.dst}|${r.dport}`);
    const mark = isSyn(r) ? synMark(r) : 0;
    if (mark !== 0) {
      const cs = this.clientSynById.get(mark);
      if (cs && nearest(cs, r.t, this.ctx.windowNs, () => true) !== null) return true;
    }
    return this.legs.has(`${r.ip.src}|${r.sport}|${r.ip.dst}|${r.dport}`) || this.legs.has(`${r.ip.dst}|${r.dport}|${r.ip.src}|${r.sport}`);
  }

  add(r: PacketRecord): void {
    r.role = null;
    this.offer(r, true);
  }

  /**
   * A record of a run with several services. Every FullNAT tracker counts local-address ports
   * (a LIP's ports are shared by the services on it), but only the owner (`own`, from claim())
   * classifies it: role and direction are fields of the shared record, so a second tracker
   * classifying it would overwrite what the owner's connection judges. A record another
   * service's tracker already placed (role set) is left to it.
   */
  offer(r: PacketRecord, own: boolean): void {
    const { vip, vport, protocol } = this.ctx.service;
    if (r.proto !== protocol) return;
    // The first fragment of a datagram: the director reassembles before translating (§2.1), so
    // its forwarded copy is the whole segment, which the last fragment's trace cannot match.
    if (r.ip.mf) return;
    const kind = this.ctx.points[r.point]!.kind;
    this.ctx.lipPorts?.observe(r, kind === 'director');
    if (!own || r.role !== null) return;
    if (r.ip.dst === vip && (vport === 0 || r.dport === vport)) {
      if (kind !== 'rs') this.clientLeg(r, true);
    } else if (r.ip.src === vip && (vport === 0 || r.sport === vport)) {
      if (kind !== 'rs') this.clientLeg(r, false);
    } else if (this.rsLegEnd(r.ip.dst, r.dport, r.ip.src)) {
      if (kind !== 'client') this.rsLeg(r, true);
    } else if (this.rsLegEnd(r.ip.src, r.sport, r.ip.dst)) {
      if (kind !== 'client') this.rsLeg(r, false);
    } else if (this.lips.has(r.ip.src)) {
      if (kind !== 'client') this.rsLeg(r, true);
    } else if (this.lips.has(r.ip.dst)) {
      if (kind !== 'client') this.rsLeg(r, false);
    }
  }

  private clientLeg(r: PacketRecord, c2s: boolean): void {
    const cip = c2s ? r.ip.src : r.ip.dst;
    const cport = c2s ? r.sport : r.dport;
    const key = `${cip}|${cport}`;
    let c = this.current.get(key);
    const syn = c2s && isSyn(r);
    if (c && syn && c.isn !== r.seq) c = undefined;
    if (!c) {
      // UDP has no ISN: a client endpoint's datagrams are one connection (generation 0), as the
      // NAT tracker numbers them; the scheduling rules count it as a decision.
      const isn = syn ? r.seq : r.proto === 'udp' ? 0 : null;
      c = newConnection(cip, cport, isn);
      infos.set(c, { leg: null, clientFamily: cip.includes(':') ? 6 : 4 });
      this.current.set(key, c);
      this.all.push(c);
    }
    const kind = this.ctx.points[r.point]!.kind;
    r.c2s = c2s;
    r.role = kind === 'client' ? 'C' : c2s ? 'Di' : 'De';
    if (kind === 'client' && !c2s) this.seen.delivered = true;
    this.liveSet.attach(c, r);
    const mark = syn ? synMark(r) : 0;
    if (mark !== 0) {
      push(this.clientSynById, mark, { v: c, t: r.t });
      const legs = this.legSynById.get(mark);
      const leg = legs && nearest(legs, r.t, this.ctx.windowNs, (l) => l.conn === null);
      if (leg) this.link(leg, c, 'syn');
    }
    if (!c2s && isSynAck(r)) {
      this.clientSynAck.set(r.seq, { v: c, t: r.t });
      const l = this.legSynAck.get(r.seq);
      if (l && l.v.conn === null && Math.abs(l.t - r.t) <= 2 * this.ctx.windowNs) this.link(l.v, c, 'syn-ack');
    }
    if (c2s && r.proto === 'udp' && r.hash !== -1 && infos.get(c)!.leg === null) {
      push(this.clientDgram, r.hash, { v: c, t: r.t, len: r.payloadLen, id: r.ip.id });
      const leg = nearestDatagram(this.legDgram.get(r.hash), r, this.ctx.windowNs, (l) => l.conn === null);
      if (leg) this.link(leg, c, 'datagram');
    }
  }

  private rsLeg(r: PacketRecord, c2s: boolean): void {
    const lip = c2s ? r.ip.src : r.ip.dst;
    const lport = c2s ? r.sport : r.dport;
    const rip = c2s ? r.ip.dst : r.ip.src;
    const rport = c2s ? r.dport : r.sport;
    const key = `${lip}|${lport}|${rip}|${rport}`;
    let list = this.legs.get(key);
    if (!list) this.legs.set(key, (list = []));
    const syn = c2s && isSyn(r);
    let leg: FnatLeg | undefined;
    if (syn) {
      // The same seq is a copy or retransmission of that leg's SYN — unless the client SYN it
      // forwards (same IP ID) belongs to another connection: a reused LIP:lport whose
      // (deterministic) secure ISN repeats.
      const mark = synMark(r);
      const cs = mark !== 0 ? this.clientSynById.get(mark) : undefined;
      const fwdOf = cs ? nearest(cs, r.t, this.ctx.windowNs, () => true) : null;
      leg = list.find((l) => l.synSeq === r.seq && (fwdOf === null || l.conn === null || l.conn === fwdOf));
      if (!leg) {
        const liveOther = list.find((l) => !l.closed && r.t - l.lastT < this.idleNs);
        leg = this.newLeg(lip, lport, rip, rport, r);
        leg.synSeq = r.seq;
        if (liveOther) {
          const oc = liveOther.conn;
          leg.reuseOf = { client: oc?.client ?? '?', cport: oc?.cport ?? 0, since: liveOther.firstT, ref: liveOther.synRef };
        }
        list.push(leg);
      }
    } else if (list.length === 1) {
      leg = list[0]!;
    } else if (list.length > 1) {
      // One 4-tuple with several legs (reuse): the one whose sequence space the packet is in.
      let best = Infinity;
      for (const l of list) {
        if (l.synSeq === null) continue;
        const d = ((c2s ? r.seq : r.ack) - l.synSeq) >>> 0;
        // Ties (a repeated ISN): the newest leg, later packets belong to the latest connection.
        if (d <= best) {
          best = d;
          leg = l;
        }
      }
      leg ??= list[list.length - 1]!;
    }
    if (!leg) {
      leg = this.newLeg(lip, lport, rip, rport, r);
      list.push(leg);
    }
    const kind = this.ctx.points[r.point]!.kind;
    r.c2s = c2s;
    r.role = kind === 'rs' ? 'R' : c2s ? 'De' : 'Di';
    if (c2s) {
      if (kind === 'rs') this.seen.delivered = true;
      else {
        this.seen.egress = true;
        if (r.t < this.seen.firstEgressT) this.seen.firstEgressT = r.t;
      }
    }
    if (syn) leg.synRef ??= refOf(r);
    if (r.t > leg.lastT) leg.lastT = r.t;
    noteClose(leg, r);
    if (leg.conn) this.liveSet.attach(leg.conn, r);
    else {
      leg.records.push(r);
      this.liveSet.hold(1);
    }
    const mark = syn ? synMark(r) : 0;
    if (mark !== 0 && leg.conn === null) {
      push(this.legSynById, mark, { v: leg, t: r.t });
      const cs = this.clientSynById.get(mark);
      const c = cs && nearest(cs, r.t, this.ctx.windowNs, (x) => infos.get(x)!.leg === null);
      if (c) this.link(leg, c, 'syn');
    }
    if (c2s && r.proto === 'udp' && r.hash !== -1 && leg.conn === null) {
      push(this.legDgram, r.hash, { v: leg, t: r.t, len: r.payloadLen, id: r.ip.id });
      const c = nearestDatagram(this.clientDgram.get(r.hash), r, this.ctx.windowNs, (x) => infos.get(x)!.leg === null);
      if (c) this.link(leg, c, 'datagram');
    }
    if (!c2s && isSynAck(r)) {
      leg.rsIsn = r.seq;
      this.legSynAck.set(r.seq, { v: leg, t: r.t });
      const c = this.clientSynAck.get(r.seq);
      if (leg.conn === null && c && infos.get(c.v)!.leg === null && Math.abs(c.t - r.t) <= 2 * this.ctx.windowNs) this.link(leg, c.v, 'syn-ack');
    }
  }

  private newLeg(lip: string, lport: number, rip: string, rport: number, r: PacketRecord): FnatLeg {
    const leg: FnatLeg = {
      lip,
      lport,
      rip,
      rport,
      synSeq: null,
      rsIsn: null,
      records: [],
      firstT: r.t,
      lastT: r.t,
      closed: false,
      finC2s: false,
      finS2c: false,
      conn: null,
      linkedBy: null,
      reuseOf: null,
      synRef: null,
    };
    this.unlinked.add(leg);
    return leg;
  }

  private link(leg: FnatLeg, c: Connection, by: 'syn' | 'syn-ack' | 'datagram'): void {
    const info = infos.get(c)!;
    if (info.leg !== null || leg.conn !== null) return;
    info.leg = leg;
    leg.conn = c;
    leg.linkedBy = by;
    this.lips.add(leg.lip);
    this.unlinked.delete(leg);
    this.liveSet.hold(-leg.records.length);
    for (const x of leg.records) this.liveSet.attach(c, x);
    leg.records = [];
  }

  sweep(now: number): void {
    const grace = 2 * this.ctx.windowNs;
    for (const c of this.liveSet.due(now, grace, this.idleNs, IDLE_STEP_WINDOWS * this.ctx.windowNs)) this.finalise(c);
    for (const leg of this.unlinked) {
      const quiet = now - leg.lastT;
      if ((leg.closed && quiet > grace) || quiet > this.idleNs) this.dropLeg(leg);
    }
    const old = now - 4 * this.ctx.windowNs;
    for (const m of [this.clientSynById, this.legSynById, this.clientDgram, this.legDgram] as Map<number, Stamped<unknown>[]>[]) {
      for (const [k, l] of m) {
        const keep = l.filter((x) => x.t >= old);
        if (keep.length === 0) m.delete(k);
        else if (keep.length !== l.length) m.set(k, keep);
      }
    }
    for (const m of [this.clientSynAck, this.legSynAck] as Map<number, Stamped<unknown>>[]) for (const [k, x] of m) if (x.t < old) m.delete(k);
  }

  finish(): void {
    for (const c of [...this.liveSet.active]) this.finalise(c);
    for (const leg of [...this.unlinked]) this.dropLeg(leg);
  }

  private dropLeg(leg: FnatLeg): void {
    this.unlinked.delete(leg);
    this.liveSet.hold(-leg.records.length);
    leg.records = [];
    this.unlinkedLegs++;
    this.forgetLeg(leg);
  }

  private forgetLeg(leg: FnatLeg): void {
    const key = `${leg.lip}|${leg.lport}|${leg.rip}|${leg.rport}`;
    const list = this.legs.get(key);
    if (!list) return;
    const i = list.indexOf(leg);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.legs.delete(key);
  }

  private finalise(c: Connection): void {
    const info = infos.get(c)!;
    const leg = info.leg;
    if (this.current.get(`${c.client}|${c.cport}`) === c) this.current.delete(`${c.client}|${c.cport}`);
    const udp = this.ctx.service.protocol === 'udp';
    // IP IDs tell packets apart only when the director keeps them (the SYN or datagram link proved it).
    groupTraces(c, this.ctx.windowNs, udp ? fnatUdpGrouping : fnatGrouping(leg?.linkedBy === 'syn', this.ctx.service.synproxy));
    // Client data is in two sequence spaces (the delta): byte ranges are measured per leg.
    if (!udp) joinSegments(c, this.ctx.windowNs, legOf);
    else udpSchedulingEvidence(c);
    if (leg) {
      c.backend = leg.rip;
      c.backendFrom = c.records.some((r) => r.role === 'De' && r.c2s) ? 'director' : 'rs';
    }
    c.scheduled = fnatScheduled(c, leg);
    this.onFinal(c);
    this.liveSet.release(c);
    c.records = [];
    c.traces = [];
    // FullNAT judges a connection whole (no parts): the count of records held may have made one.
    c.part = null;
    if (leg) this.forgetLeg(leg);
  }
}

/**
 * Whether the director made a scheduling decision for the connection: its SYN reached the
 * director, or a SYN of its RS leg was captured anywhere. The RS leg's SYN is enough on its own:
 * only the director opens a LIP leg, so a real server's capture proves the decision even where
 * the director's capture lacks its own output (a DPDK director sending through af_packet with
 * PACKET_QDISC_BYPASS is not seen by tcpdump on that interface).
 */
function fnatScheduled(c: Connection, leg: FnatLeg | null): boolean {
  // UDP: every new client endpoint is a decision; its datagram reached the director, or its
  // RS leg was captured.
  const udp = c.records.length > 0 && c.records[0]!.proto === 'udp';
  for (const r of c.records) {
    if (udp) {
      if (r.c2s && (r.role === 'Di' || (leg !== null && (r.role === 'De' || r.role === 'R')))) return true;
      continue;
    }
    if (!r.c2s || !isSyn(r)) continue;
    if (r.role === 'Di') return true;
    if (leg !== null && (r.role === 'De' || r.role === 'R')) return true;
  }
  return false;
}

/**
 * What a director keeps of a client's SYN on the RS leg, telling which client SYN an RS-leg SYN
 * forwards: the IPv4 ID; on IPv6 the flow label (20 bits, offset past every ID so the two never
 * meet). 0 when there is none to go by: an ID or label of 0, and NAT64, whose legs differ in
 * family (DPVS's IPv4 leg has ID 0). A director that changes the label only loses this link;
 * the SYN-ACK's still holds.
 */
export function synMark(r: PacketRecord): number {
  if (r.ip.v === 4) return r.ip.id;
  return r.ip.flow === 0 ? 0 : 0x10000 + r.ip.flow;
}

function push<K, T>(m: Map<K, T[]>, k: K, v: T): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

/** The candidate closest in time (within the window) that passes `ok`. */
function nearest<T>(list: Stamped<T>[], t: number, windowNs: number, ok: (v: T) => boolean): T | null {
  let best: Stamped<T> | null = null;
  for (const x of list) {
    if (Math.abs(x.t - t) > windowNs || !ok(x.v)) continue;
    if (!best || Math.abs(x.t - t) < Math.abs(best.t - t)) best = x;
  }
  return best ? best.v : null;
}

/** The RS-leg / client-leg copy of datagram `r`: same payload length and IP ID, nearest in
 *  time within the window, passing `ok`. */
function nearestDatagram<T>(list: Datagram<T>[] | undefined, r: PacketRecord, windowNs: number, ok: (v: T) => boolean): T | null {
  if (!list) return null;
  let best: Datagram<T> | null = null;
  for (const x of list) {
    if (x.len !== r.payloadLen || x.id !== r.ip.id || Math.abs(x.t - r.t) > windowNs || !ok(x.v)) continue;
    if (!best || Math.abs(x.t - r.t) < Math.abs(best.t - r.t)) best = x;
  }
  return best ? best.v : null;
}

/** UDP FullNAT: a datagram's copies share payload and IP ID on both legs (ports and addresses
 *  change, the UOA comes and goes), so the key is the payload, the IP ID the preference. */
const fnatUdpGrouping: TraceGrouping = {
  key: (r) => numericKey(r.c2s ? 1 : 0, 0, 0, 0, r.payloadLen, r.hash),
  fit: (t, r) => (t.list.some((x) => x.ip.id === r.ip.id) ? FIT_BEST : FIT_MAYBE),
};

/** FullNAT rewrites the server's seq on the client leg and the client's on the RS leg (§3.2), so
 *  the key of a client→server copy is its ack, of a reply its seq. A copy prefers the trace with
 *  its own IPv4 ID; when the director keeps IDs (linked by SYN), a copy on the other leg with
 *  another ID is another packet (IPv6 has no ID, and NAT64 makes one up). Duplicate ACKs share
 *  that key and tell themselves apart by their SACK blocks, which name the server's sequence
 *  space, the same on both legs without a SYN proxy: a client→server copy whose blocks differ
 *  from the other leg's is another ACK (its own copy missed by a capture). */
function fnatGrouping(idsKept: boolean, synproxy: boolean): TraceGrouping {
  return {
    key: (r) => (r.c2s ? numericKey(1, 0, r.ack, r.flags, r.payloadLen, 0) : numericKey(0, r.seq, 0, r.flags, r.payloadLen, 0)),
    fit: (t, r) => {
      if (r.ip.v === 4 && t.list.some((x) => x.ip.v === 4 && x.ip.id === r.ip.id)) return FIT_BEST;
      if (idsKept && r.ip.v === 4 && t.list.some((x) => x.ip.v === 4 && legOf(x) !== legOf(r))) return FIT_NO;
      if (r.c2s && !synproxy && t.list.some((x) => legOf(x) !== legOf(r) && otherSack(x.tcpOpts, r.tcpOpts))) return FIT_NO;
      return FIT_MAYBE;
    },
  };
}

/** The bytes of the first SACK option (kind 5) in `b` as [start, end), or null. */
function sackAt(b: Uint8Array | null): [number, number] | null {
  if (b === null) return null;
  for (let i = 0; i < b.length && b[i] !== TcpOpt.EOL; ) {
    const len = tcpOptionLength(b, i, b.length);
    if (len < 0) return null;
    if (b[i] === TcpOpt.SACK) return [i, i + len];
    i += len;
  }
  return null;
}

/** Both option lists carry SACK, and the blocks differ. */
function otherSack(a: Uint8Array | null, b: Uint8Array | null): boolean {
  const x = sackAt(a);
  const y = sackAt(b);
  if (x === null || y === null) return false;
  if (x[1] - x[0] !== y[1] - y[0]) return true;
  for (let i = 0; i < x[1] - x[0]; i++) if (a![x[0] + i] !== b![y[0] + i]) return true;
  return false;
}

/** Which leg a copy was captured on: the client leg (C and the director's client side) or the RS leg. */
export function legOf(r: PacketRecord): 'client' | 'rs' {
  const role: Role | null = r.role;
  if (role === 'C') return 'client';
  if (role === 'R') return 'rs';
  return (role === 'Di') === r.c2s ? 'client' : 'rs';
}
