/**
 * Correlation: follow every connection across capture points although addresses change.
 *
 * NAT, DR and TUN all keep the client's address and port (lvs-behavior.md §1.3–1.5), so a
 * logical connection is identified by (client IP, client port, client ISN) at every point: a
 * record whose source is a known client endpoint travels client → server, one whose
 * destination is travels back. Within a connection, copies of one packet are grouped into a
 * *trace* by the TCP invariants no method changes (seq, ack, flags, payload length), inside the
 * time window after clock correction; IP ID and payload hash are compared by rules instead of
 * being part of the key, so a director that rewrites them is caught rather than unmatched.
 * When a packet was retransmitted, the copy with the same IP ID wins the slot.
 */
import { TcpFlag } from '../../decode/packet.js';
import { isSyn, isSynAck } from '../../decode/proto/tcp.js';
import type { EngineContext } from './context.js';
import type { LoadedPoint } from '../read/points.js';
import { numericKey, refOf, type RecordPool } from '../read/record.js';
import type { PacketRecord, Role } from '../model/record.js';
import { emptyKeepingStorage, FIT_BEST, FIT_MAYBE, FIT_NO, groupTraces, joinSegments, newTrace, type TraceGrouping } from './traces.js';
import { LiveConnections, PART_MIN_RECORDS } from './live.js';
import type { Connection, PartState, Trace } from '../model/connection.js';

const SYN = TcpFlag.SYN;

/**
 * UDP has no handshake or close: IPVS creates a UDP connection entry for the first datagram of a
 * (client IP, client port) to the VIP — a scheduling decision — and every datagram either way
 * re-arms its timer to 300 s (lvs-behavior.md §1.8, "UDP normal"). A datagram after a longer
 * silence finds no entry and is scheduled afresh: a new *generation* of the flow, which is what
 * `Connection.isn` holds for UDP (0, 1, …) so that each generation is its own connection.
 */
export const UDP_TIMEOUT_NS = 300e9;

/**
 * Sweeps (connection judgement) fall on a grid of corrected time: this many per window. A closed
 * connection is judged at most that long after its grace (two windows), and the live set stays
 * close to its least (a quarter window held ~10 % more records at the peak).
 */
export const SWEEPS_PER_WINDOW = 16;
/**
 * The grace the judgement of a closed connection waits for copies of its last packets still to
 * come from other points, by the definition of the window: two windows. Every record judged
 * later than it must be stays in memory that long, and at the default window (1 s) the bench
 * set held ~33 000 records (10 MB, out of the CPU caches) where its copies were a few ms apart.
 */
export function fullGrace(windowNs: number): number {
  return 2 * windowNs;
}

/** How often (in windows of corrected time) sweeps look for idle connections
 *  (LiveConnections.due): a whole number of windows, so a multiple of the sweep grid. */
export const IDLE_STEP_WINDOWS = 4;

/**
 * Learns the director's MACs. Only copies whose position on the path is certain are used, so a
 * stray packet (a client RST sent to a RIP, a flooded frame) cannot make a host a "director":
 *  - at the director, the earliest of several copies of one packet to the VIP is the ingress
 *    one (dst MAC = director), later copies are egress (src MAC = director) — DR;
 *  - NAT/TUN: the only plain copy of a packet to the VIP at the director is the ingress one;
 *    a client SYN to a RIP and a reply from the VIP there are the director's own sends, and a
 *    SYN-ACK from a RIP arriving there is addressed to it — only its earliest copy, though: a
 *    director that forwards the reply without rewriting the source (nat.reply-src) sends a
 *    second copy still from the RIP, addressed to the client's next hop, not to itself;
 *  - TUN: the encapsulated copy is the director's send;
 *  - at a NAT real server, client SYNs to its RIP come from the director (src MAC).
 */
function learnDirectorMacs(ctx: EngineContext): void {
  const { vip } = ctx.service;
  const dm = ctx.directorMacs;
  const d = ctx.points[ctx.directorIdx];
  if (d) {
    // Copies of one packet are at most a window apart: a key met again later is another packet
    // (UDP keys are weak — source port, length, IP ID — and IP IDs wrap on a long flow).
    const groups = new WindowGroups(ctx.windowNs);
    // DR copies of one packet to the VIP by everything but the IP ID (see the relay rule below).
    const sansId = new WindowGroups(ctx.windowNs);
    // NAT SYN-ACKs from a RIP, by packet: the earliest copy is the ingress one.
    const ripSynAcks = new Map<number, PacketRecord>();
    // UDP has no SYN to single out the director's own sends: a datagram to a RIP at the director
    // that is a copy (source port, IP ID, length) of a datagram to the VIP seen there is the
    // forwarded copy, so its source MAC is the director's (NAT, RS-side NIC).
    const udpToRip: PacketRecord[] = [];
    for (const r of d.records) {
      if (!r.dstMac || !r.srcMac) continue;
      if (r.outer) {
        if (ctx.rsByIp.has(r.outer.dst) || ctx.inferred) dm.add(r.srcMac);
        continue;
      }
      const syn = isSyn(r);
      if (r.ip.dst === vip) {
        groups.add(numericKey(r.sport, r.seq, r.ack, r.flags, r.payloadLen, r.ip.id), r);
        if (ctx.methods.has('dr')) sansId.add(numericKey(r.sport, r.seq, r.ack, r.flags, r.payloadLen, -1), r);
      } else if (syn && ctx.rsByIp.has(r.ip.dst)) {
        dm.add(r.srcMac);
      } else if (r.proto === 'udp' && ctx.rsByIp.has(r.ip.dst) && !ctx.rsByIp.has(r.ip.src)) {
        udpToRip.push(r);
      } else if (r.ip.src === vip && r.sport === ctx.service.vport && ctx.methods.has('nat')) {
        dm.add(r.srcMac);
      } else if (isSynAck(r) && ctx.rsByIp.has(r.ip.src) && ctx.methods.has('nat')) {
        const k = numericKey(r.dport, r.seq, r.ack, r.flags, r.payloadLen, r.ip.id);
        const first = ripSynAcks.get(k);
        if (!first || r.ts < first.ts) ripSynAcks.set(k, r);
      }
    }
    for (const r of ripSynAcks.values()) dm.add(r.dstMac!);
    for (const r of udpToRip) {
      const g = groups.near(numericKey(r.sport, r.seq, r.ack, r.flags, r.payloadLen, r.ip.id), r.ts);
      if (g && g.some((x) => x.ip.src === r.ip.src && x.ts <= r.ts)) dm.add(r.srcMac!);
    }
    const ingress = new Map<string, number>();
    for (const g of groups.all()) {
      if (g.length < 2) {
        if (!ctx.methods.has('dr')) ingress.set(g[0]!.dstMac!, (ingress.get(g[0]!.dstMac!) ?? 0) + 1);
        continue;
      }
      g.sort((a, b) => a.ts - b.ts);
      dm.add(g[0]!.dstMac!);
      for (let i = 1; i < g.length; i++) dm.add(g[i]!.srcMac!);
    }
    // DR relay: a copy sent from the MAC an earlier copy of the same packet was addressed to
    // was relayed by that host, the director. This holds when the IP ID differs between the
    // two copies (a director that rewrites it, caught by rewrite.ip-fields), which the
    // ID-keyed groups above cannot pair; a retransmission from the client cannot fake it
    // (its source is the client's next hop, not the host the first copy went to).
    for (const g of sansId.all()) {
      if (g.length < 2) continue;
      g.sort((a, b) => a.ts - b.ts);
      for (let i = 1; i < g.length; i++) {
        const b = g[i]!;
        for (let j = 0; j < i; j++) {
          const a = g[j]!;
          if (a.dstMac === b.srcMac && a.srcMac !== b.dstMac) {
            dm.add(a.dstMac!);
            break;
          }
        }
      }
    }
    // The commonest destination MAC of single copies to the VIP (one stray frame cannot win).
    let best: string | null = null;
    for (const [m, n] of ingress) if (best === null || n > ingress.get(best)!) best = m;
    if (best) dm.add(best);
  }
  if (ctx.methods.has('nat')) {
    for (const p of ctx.points) {
      if (p.kind !== 'rs' || !p.rsIp) continue;
      // UDP: every datagram to the RIP from a client address came through the director (there
      // is no SYN to pick the first one of a flow).
      for (const r of p.records) {
        if (!r.srcMac || r.ip.dst !== p.rsIp) continue;
        if (isSyn(r) || (r.proto === 'udp' && !ctx.rsByIp.has(r.ip.src))) dm.add(r.srcMac);
      }
    }
  }
}

/** Records grouped by key, a key's group closed once a record comes more than `windowNs` after
 *  the group's first (capture time of one point: no clock correction needed). */
class WindowGroups {
  /** Per key, its groups in arrival order; the last one is open. */
  private readonly byKey = new Map<number, PacketRecord[][]>();
  constructor(private readonly windowNs: number) {}
  add(k: number, r: PacketRecord): void {
    const gs = this.byKey.get(k);
    const g = gs?.[gs.length - 1];
    if (g && Math.abs(r.ts - g[0]!.ts) <= this.windowNs) g.push(r);
    else if (gs) gs.push([r]);
    else this.byKey.set(k, [[r]]);
  }
  /** The group of `k` within a window of `ts`, if any. */
  near(k: number, ts: number): PacketRecord[] | undefined {
    return this.byKey.get(k)?.find((g) => Math.abs(ts - g[0]!.ts) <= this.windowNs);
  }
  *all(): Iterable<PacketRecord[]> {
    for (const gs of this.byKey.values()) yield* gs;
  }
}

function directorRole(ctx: EngineContext, r: PacketRecord, c2s: boolean): Role {
  const vip = ctx.service.vip;
  if (r.direction === 'in') return 'Di';
  if (r.direction === 'out') return 'De';
  const dm = ctx.directorMacs;
  if (r.srcMac && r.dstMac) {
    const fromDir = dm.has(r.srcMac);
    const toDir = dm.has(r.dstMac);
    if (toDir && !fromDir) return 'Di';
    if (fromDir && !toDir) return 'De';
  }
  if (c2s) {
    if (r.outer) return 'De';
    if (r.ip.dst !== vip) return 'De';
  } else if (r.ip.src === vip && methodIsNat(ctx)) {
    return 'De';
  }
  return 'Di';
}

/** A frame a capture point saw but its host neither sent nor received: unknown-unicast flooding
 *  on a bridge copies frames for one real server to every port until the MAC is learnt. */
function notForThisHost(ctx: EngineContext, p: LoadedPoint, r: PacketRecord, c2s: boolean): boolean {
  if (!r.srcMac || !r.dstMac) return false;
  if (p.kind === 'rs') {
    if (!p.ownMac) return false;
    return c2s ? r.dstMac !== p.ownMac : r.srcMac !== p.ownMac;
  }
  if (p.kind === 'director') {
    const dm = ctx.directorMacs;
    return dm.size > 0 && !dm.has(r.srcMac) && !dm.has(r.dstMac);
  }
  return false;
}

function methodIsNat(ctx: EngineContext): boolean {
  return ctx.methods.has('nat');
}

/**
 * Streaming classification: records arrive merged across points in corrected-time order; each
 * is classified, appended to its connection, and a connection is finalised (traces built, rules
 * run, its packets dropped) once it has been closed — or idle — for longer than the window, so
 * packet memory is bounded by the live connections. A small summary (backend, SYN time) of each
 * connection stays for the scheduling rules, which judge the order of all connections.
 */
export class ConnectionTracker {
  /** What is known per client address: one lookup per record finds all of it. */
  private readonly hosts = new Map<string, ClientHost>();
  /** The connections holding records, and the counters that show memory stays bounded. */
  readonly liveSet: LiveConnections;
  /** UDP flows: "cip|cport" → current generation and its last datagram (any point, either way). */
  private readonly udpFlows = new Map<string, { gen: number; lastT: number }>();
  /** Every connection ever seen, in creation order (summaries once finalised). */
  readonly all: Connection[] = [];
  /**
   * A client of the VIP sent from a service's address or port (a real server that is also a
   * client, from its service port). Then a record may have a client endpoint at both ends,
   * which `add` decides with what it knows of both: a run split by client endpoint
   * (parallel/partition.ts) knows only its own share's, and is redone on one thread (verify.ts).
   */
  clientAtServiceEnd = false;
  /**
   * A record came for a connection judged before the full grace would have passed (a copy, or
   * a last ACK, later than `closeGraceNs`): with the full grace it would have joined that
   * judgement. The caller stops and judges again with the full grace (verify.ts).
   */
  lateCopy = false;
  /** Reused traces and arrays (with the record pool only: see SpareParts). */
  private readonly spare = new SpareParts();
  /** Two windows (fullGrace), and how long after its last packet a closed connection is
   *  judged: the short grace asked for, except for UDP, whose flows never close (their
   *  judgement waits for quiet, which a short grace would cut into at every pause). */
  private readonly fullGraceNs: number;
  private readonly closeGraceNs: number;
  /** Closed connections are judged before the full grace: `lateCopy` can happen. */
  readonly judgesEarly: boolean;

  constructor(
    private readonly ctx: EngineContext,
    private readonly onFinal: (c: Connection) => void,
    /** Idle time after which an open connection is judged (and reopened if it continues). */
    private readonly idleNs = 60e9,
    /** Where judged records go for reuse; only when this tracker is the records' sole user. */
    private readonly pool: RecordPool | null = null,
    /** Whether an address and port are a service's end (any service of the run): see
     *  clientAtServiceEnd. */
    private readonly serviceEnd?: (ip: string, port: number) => boolean,
    /** How long after its last packet a closed TCP connection is judged (prepare.ts
     *  closeGrace); default and most: two windows (fullGrace). */
    closeGraceNs = fullGrace(ctx.windowNs),
    /** Records a connection holds before it is judged in parts (live.ts PART_MIN_RECORDS). */
    partRecords = PART_MIN_RECORDS,
  ) {
    this.liveSet = new LiveConnections(partRecords);
    this.fullGraceNs = fullGrace(ctx.windowNs);
    this.closeGraceNs = ctx.service.protocol === 'udp' ? this.fullGraceNs : Math.min(closeGraceNs, this.fullGraceNs);
    this.judgesEarly = this.closeGraceNs < this.fullGraceNs;
    learnDirectorMacs(ctx);
  }

  /** The client endpoint (ip, port), when it was learnt. */
  private endpoint(ip: string, port: number): ClientPort | undefined {
    return this.hosts.get(ip)?.ports.get(port);
  }

  /**
   * Records not (yet) attributable to a client endpoint. Clock correction absorbs the one-way
   * latency, so a downstream copy can sort just before the client's own packet that reveals the
   * endpoint; such records wait here (at most the window) and are retried when it appears.
   */
  private readonly pending = new Map<string, PacketRecord[]>();
  private pendingCount = 0;
  private static readonly MAX_PENDING = 1 << 16;

  private hold(r: PacketRecord): boolean {
    if (this.pendingCount >= ConnectionTracker.MAX_PENDING) return false;
    this.pendingCount++;
    for (const k of [`${r.ip.src}|${r.sport}`, `${r.ip.dst}|${r.dport}`]) {
      const l = this.pending.get(k);
      if (l) l.push(r);
      else this.pending.set(k, [r]);
    }
    return true;
  }

  /** Classifies a record into its connection. Returns false when the tracker keeps no
   *  reference to it (not this service's, or not attributable): the caller may reuse it.
   *  A record already placed (role set) belongs to another service's tracker of the run:
   *  role and direction are fields of the shared record, which that tracker's connection
   *  judges, so it is left alone (judge.ts offers every record to every tracker). */
  add(r: PacketRecord): boolean {
    const ctx = this.ctx;
    const { vip, vport } = ctx.service;
    const proto = ctx.service.protocol;
    if (r.role !== null || r.proto !== proto) return false;
    let learnt = false;
    if (r.ip.dst === vip && (vport === 0 || r.dport === vport)) {
      let host = this.hosts.get(r.ip.src);
      if (!host) this.hosts.set(r.ip.src, (host = { ports: new Map() }));
      if (!host.ports.has(r.sport)) {
        host.ports.set(r.sport, { isn: new Array<number>(ctx.points.length).fill(NaN), conns: [] });
        learnt = true;
        if (this.serviceEnd?.(r.ip.src, r.sport) === true) this.clientAtServiceEnd = true;
      }
    }
    const src = this.endpoint(r.ip.src, r.sport);
    const dst = this.endpoint(r.ip.dst, r.dport);
    if ((src === undefined) === (dst === undefined)) return src !== undefined ? false : this.hold(r);
    const placed = src !== undefined ? this.place(r, true, src) : this.place(r, false, dst!);
    if (learnt && this.pendingCount > 0) {
      const key = `${r.ip.src}|${r.sport}`;
      const retry = this.pending.get(key);
      if (retry) {
        this.pending.delete(key);
        for (const x of retry) {
          // Held under two keys: skip the ones already placed through the other.
          if (x.role !== null) continue;
          this.pendingCount--;
          const fromClient = x.ip.src === r.ip.src && x.sport === r.sport;
          this.place(x, fromClient, fromClient ? this.endpoint(x.ip.src, x.sport)! : this.endpoint(x.ip.dst, x.dport)!);
        }
      }
    }
    return placed;
  }

  /** Attaches a record to its connection (of client endpoint `end`); false when the point's
   *  host was not party to it. */
  private place(r: PacketRecord, fromClient: boolean, end: ClientPort): boolean {
    const ctx = this.ctx;
    const proto = ctx.service.protocol;
    const p = ctx.points[r.point]!;
    if (notForThisHost(ctx, p, r, fromClient)) return false;
    r.c2s = fromClient;
    r.role = p.kind === 'client' ? 'C' : p.kind === 'rs' ? 'R' : directorRole(ctx, r, fromClient);
    const cip = fromClient ? r.ip.src : r.ip.dst;
    const cport = fromClient ? r.sport : r.dport;
    // The ISN each point saw last for this endpoint (a point may miss a SYN the others saw).
    if (fromClient && proto === 'tcp' && isSyn(r)) end.isn[r.point] = r.seq;
    const seen = end.isn[r.point]!;
    const isn = proto === 'udp' ? this.udpGeneration(cip, cport, r.t) : tcpIsn(end, seen, r, fromClient);
    const gens = end.conns;
    let c: Connection | undefined;
    // Newest first: a port reused by the client has its current connection at the end.
    for (let i = gens.length - 1; i >= 0; i--) {
      if (gens[i]!.isn === isn) {
        c = gens[i];
        break;
      }
    }
    if (c === undefined) {
      c = newConnection(cip, cport, isn);
      if (this.pool) c.records = this.spare.recordList();
      gens.push(c);
      this.all.push(c);
    } else if (c.segments > 0 && !this.liveSet.active.has(c)) {
      // Judged already. With the full grace it would still be live while a record merged before
      // the first sweep past lastT + full grace; a record's time is at most its merge time, so
      // this test flags every such record (and, harmlessly, a few more).
      if (this.judgesEarly && r.t <= c.lastT + this.fullGraceNs + this.ctx.windowNs / SWEEPS_PER_WINDOW) this.lateCopy = true;
    }
    this.liveSet.attach(c, r);
    return true;
  }

  /** The generation of a UDP flow a record at corrected time `t` belongs to (UDP_TIMEOUT_NS). */
  private udpGeneration(cip: string, cport: number, t: number): number {
    const key = `${cip}|${cport}`;
    const f = this.udpFlows.get(key);
    if (!f) {
      this.udpFlows.set(key, { gen: 0, lastT: t });
      return 0;
    }
    // Records come in corrected-time order (held ones a window late at most): only a silence
    // longer than the IPVS UDP timeout plus that window starts a new entry.
    if (t - f.lastT > UDP_TIMEOUT_NS + this.ctx.windowNs) f.gen++;
    if (t > f.lastT) f.lastT = t;
    return f.gen;
  }

  /** Finalises connections closed (or idle) long enough before `now`. */
  sweep(now: number): void {
    const grace = this.fullGraceNs;
    if (this.pendingCount > 0) {
      for (const [k, l] of this.pending) {
        const keep = l.filter((x) => x.role === null && now - x.t <= grace);
        if (keep.length === 0) this.pending.delete(k);
        else if (keep.length !== l.length) this.pending.set(k, keep);
      }
      let n = 0;
      for (const l of this.pending.values()) n += l.length;
      this.pendingCount = n >> 1;
    }
    // A UDP flow has no close: its datagrams are judged once it has been quiet for the grace
    // (two windows: every copy of its last datagram and the answer to it are in). More datagrams
    // reopen it as a new segment of the same connection (same generation, same backend), so
    // memory follows the flows active in the last two windows, not the 300 s IPVS entry life.
    const idle = this.ctx.service.protocol === 'udp' ? Math.min(grace, this.idleNs) : this.idleNs;
    for (const c of this.liveSet.due(now, this.closeGraceNs, idle, IDLE_STEP_WINDOWS * this.ctx.windowNs)) this.finalise(c);
    for (const { c, part, upTo } of this.liveSet.judgeableBefore(now, this.ctx.windowNs)) this.judgePart(c, part, upTo);
  }

  /** Finalises everything still open (end of the captures). */
  finish(): void {
    for (const c of [...this.liveSet.active]) this.finalise(c);
  }

  /** Groups the records the connection holds into traces and learns what judging needs. */
  private group(c: Connection): void {
    const spare = this.pool ? this.spare : null;
    if (spare) groupTraces(c, this.ctx.windowNs, natGrouping, spare.traceList(), spare.makeTrace);
    else groupTraces(c, this.ctx.windowNs, natGrouping);
    if (this.ctx.service.protocol === 'tcp') joinSegments(c, this.ctx.windowNs);
    if (this.ctx.service.protocol === 'udp') udpSchedulingEvidence(c);
    findBackend(this.ctx, c);
  }

  /**
   * Judges the part of an open connection whose traces start at or before `upTo` (every copy
   * of them has arrived: LiveConnections.judgeableBefore) and drops their records; the later
   * traces are context for the rules now and are grouped again, with what comes, for the next
   * part or the final judgement. Traces are grouped in time order and a record never joins a
   * trace more than a window older, so regrouping what is left gives the traces it had.
   */
  private judgePart(c: Connection, part: PartState, upTo: number): void {
    this.group(c);
    const traces = c.traces;
    // Traces by first copy in time order (groupTraces creates them so; a join keeps the
    // earliest member). Before walkFrom: records that came after their part was judged.
    let from = 0;
    while (from < traces.length && traces[from]!.t0 <= part.judgedUpTo) from++;
    let to = from;
    while (to < traces.length && traces[to]!.t0 <= upTo) to++;
    const later = new Set<PacketRecord>();
    for (let i = to; i < traces.length; i++) {
      const t = traces[i]!;
      for (const r of t.list) later.add(r);
      if (t.pieces) for (const r of t.pieces) later.add(r);
    }
    const all = c.records;
    const judged: PacketRecord[] = [];
    const kept: PacketRecord[] = this.pool ? this.spare.recordList() : [];
    for (const r of all) (later.has(r) ? kept : judged).push(r);
    c.records = judged;
    part.walkFrom = from;
    part.walkTo = to;
    if (to > from) this.onFinal(c);
    part.walkFrom = 0;
    part.walkTo = -1;
    if (to > from) part.parts++;
    part.judgedUpTo = upTo;
    c.records = kept;
    const spare = this.pool ? this.spare : null;
    if (spare) {
      for (const r of judged) this.pool!.give(r);
      emptyKeepingStorage(all);
      spare.giveTraces(c, all);
    } else c.traces = [];
    this.liveSet.partJudged(c, part, judged.length);
  }

  private finalise(c: Connection): void {
    const spare = this.pool ? this.spare : null;
    this.group(c);
    const part = c.part;
    const all = c.records;
    if (part !== null) {
      // After parts, the traces of records that came late for theirs are not judged again.
      let from = 0;
      while (from < c.traces.length && c.traces[from]!.t0 <= part.judgedUpTo) from++;
      if (from > 0) c.records = all.filter((r) => r.t > part.judgedUpTo);
      part.walkFrom = from;
    }
    this.onFinal(c);
    // Judged: nothing reads the part state again (a reopened segment starts afresh).
    c.part = null;
    c.records = all;
    this.liveSet.release(c);
    // Keep the summary only: the packets are judged. Nothing else refers to them now: held
    // records are dropped from `pending` (sweep) before any connection is judged, and rules
    // keep PacketRefs, not records.
    if (spare) {
      for (const r of c.records) this.pool!.give(r);
      spare.giveBack(c);
    }
    c.records = [];
    c.traces = [];
  }
}

/**
 * Traces and the arrays of a connection's records and traces, kept for reuse once it is judged
 * (with the record pool, under the same condition: the tracker is the only user). Each judged
 * connection would otherwise drop about ten objects and arrays that had grown push by push,
 * a large share of pass 2's allocation, all for the garbage collector. Nothing refers to them
 * after judgement: rules keep PacketRefs and texts.
 */
class SpareParts {
  private readonly traces: Trace[] = [];
  private readonly traceLists: Trace[][] = [];
  private readonly recordLists: PacketRecord[][] = [];
  private static readonly MAX = 1 << 14;

  readonly makeTrace = (c2s: boolean, key: number, t0: number): Trace => {
    const t = this.traces.pop();
    if (t === undefined) return newTrace(c2s, key, t0);
    t.c2s = c2s;
    t.key = key;
    t.t0 = t0;
    t.segmented = false;
    t.pieces = null;
    return t;
  };

  traceList(): Trace[] {
    return this.traceLists.pop() ?? [];
  }

  recordList(): PacketRecord[] {
    return this.recordLists.pop() ?? [];
  }

  /** Takes back the connection's traces (emptied) and empties its trace list. */
  private takeTraces(c: Connection): void {
    for (const t of c.traces) {
      emptyKeepingStorage(t.list);
      t.path = null;
      t.C = t.Di = t.De = t.R = undefined;
      if (this.traces.length < SpareParts.MAX) this.traces.push(t);
    }
    emptyKeepingStorage(c.traces);
  }

  /** Takes back the traces of a part judged (their records are judged or kept elsewhere) and
   *  `records`, the array that held them, emptied; the connection gets a fresh trace list. */
  giveTraces(c: Connection, records: PacketRecord[]): void {
    this.takeTraces(c);
    if (this.traceLists.length < SpareParts.MAX) this.traceLists.push(c.traces);
    c.traces = [];
    if (this.recordLists.length < SpareParts.MAX) this.recordLists.push(records);
  }

  /** Takes back a judged connection's traces and arrays (emptied). */
  giveBack(c: Connection): void {
    this.takeTraces(c);
    emptyKeepingStorage(c.records);
    if (this.traceLists.length < SpareParts.MAX) this.traceLists.push(c.traces);
    if (this.recordLists.length < SpareParts.MAX) this.recordLists.push(c.records);
  }
}

/** A client address's endpoints (ConnectionTracker): one lookup per record finds all of it. */
interface ClientHost {
  /** Client ports seen sending to the VIP: the endpoints that make a record attributable. */
  ports: Map<number, ClientPort>;
}

/** One client endpoint (address, port). */
interface ClientPort {
  /** The ISN of the last client SYN each point saw (index: point; NaN: none yet). A number
   *  array holds doubles unboxed; a Map from point·65536 + port to ISN cost a heap number per
   *  SYN and a lookup in a table as big as the run's endpoints. */
  isn: number[];
  /** Its connections, one per ISN (UDP: generation; null: SYN not seen), oldest first. */
  conns: Connection[];
}

/** A connection with nothing seen yet (both trackers start them here). */
export function newConnection(client: string, cport: number, isn: number | null): Connection {
  return {
    client,
    cport,
    isn,
    records: [],
    traces: [],
    backend: null,
    backendFrom: null,
    synT: null,
    synAtDirector: null,
    synRecord: null,
    fwdSynRecord: null,
    scheduled: false,
    lastT: -Infinity,
    closed: false,
    finC2s: false,
    finS2c: false,
    segments: 0,
    part: null,
  };
}

/** NAT, DR and TUN keep seq, ack, flags and payload length: the key; a copy prefers the trace
 *  with its own IP ID (a retransmission is another packet with the same key). UDP datagrams
 *  have no seq (0), so the key is only direction and length: one with another IP ID fits a
 *  trace only when the payloads agree (hash −1 = not captured whole, cannot tell). */
/** True when record `r` belongs to the sequence space that starts at `isn` (NAT, DR and TUN
 *  never shift sequence numbers): its seq (client → server) or its ACK (the other way) lies in
 *  the half of the space after the ISN. A segment without ACK fits any. */
function inSpace(isn: number, r: PacketRecord, fromClient: boolean): boolean {
  if (fromClient) return ((r.seq - isn) >>> 0) < 0x80000000;
  if ((r.flags & TcpFlag.ACK) === 0) return true;
  return ((r.ack - isn - 1) >>> 0) < 0x80000000;
}

/**
 * The ISN of the connection a TCP record belongs to: the one its own point saw last in a SYN,
 * when the record fits its sequence space. A point can miss the SYN the others saw (its
 * capture started later, or dropped that frame) or hold a stale one (the client reused its
 * port): then the newest connection of the endpoint whose sequence space fits, so that the
 * point's copies join the copies the other points saw instead of a connection of their own.
 */
function tcpIsn(end: ClientPort, seen: number, r: PacketRecord, fromClient: boolean): number | null {
  if (!Number.isNaN(seen) && inSpace(seen, r, fromClient)) return seen;
  const gens = end.conns;
  for (let i = gens.length - 1; i >= 0; i--) {
    const isn = gens[i]!.isn;
    if (isn !== null && isn !== seen && inSpace(isn, r, fromClient)) return isn;
  }
  return Number.isNaN(seen) ? null : seen;
}

const natGrouping: TraceGrouping = {
  key: (r) => numericKey(r.c2s ? 1 : 0, r.seq, r.ack, r.flags, r.payloadLen, 0),
  fit: (t, r) => {
    for (const x of t.list) if (x.ip.id === r.ip.id) return FIT_BEST;
    // A new IP ID and new TCP options (a timestamp that moved on) at once: another transmission
    // of the same bytes, not this packet rewritten (a fault changes one of them, and a data
    // packet's copies cut differently are joined again by joinSegments).
    if (r.ip.v === 4 && r.optSig > 0) {
      for (const x of t.list) if (x.optSig > 0 && x.optSig !== r.optSig) return FIT_NO;
    }
    if (r.proto === 'udp' && r.hash >= 0) {
      for (const x of t.list) if (x.hash >= 0 && x.hash !== r.hash) return FIT_NO;
    }
    return FIT_MAYBE;
  },
};

/**
 * UDP: the first client datagram of a generation is its scheduling decision (what the SYN is for
 * TCP, lvs-behavior.md §1.8/§1.10): its copies are the evidence the scheduling rules cite and its
 * time orders the decisions. Only the connection's first segment sets them.
 */
export function udpSchedulingEvidence(c: Connection): void {
  if (c.synRecord !== null) return;
  const first = c.traces.find((t) => t.c2s);
  if (!first) return;
  let Di: PacketRecord | undefined;
  let fwd: PacketRecord | undefined;
  for (const r of first.list) {
    if (r.role === 'Di') Di ??= r;
    else if (r.role === 'De' || r.role === 'R') fwd ??= r;
  }
  c.synRecord = refOf(first.list[0]!);
  if (fwd) c.fwdSynRecord = refOf(fwd);
  if (Di) c.synAtDirector = refOf(Di);
  c.synT = Di ? Di.t : first.t0;
}

/** The RIP a record was sent to, from its headers or MACs; null when they do not tell. */
export function ripOfForwarded(ctx: EngineContext, r: PacketRecord): string | null {
  if (r.outer) return r.outer.dst;
  if (r.ip.dst !== ctx.service.vip) return r.ip.dst;
  if (r.dstMac) return ctx.rsIpByMac.get(r.dstMac) ?? null;
  return null;
}

function findBackend(ctx: EngineContext, c: Connection): void {
  if (c.backend !== null) return;
  for (const t of c.traces) {
    if (!t.c2s) continue;
    for (const r of t.list) {
      if (r.role === 'De') {
        c.scheduled = true;
        const rip = ripOfForwarded(ctx, r);
        if (rip && c.backend === null) {
          c.backend = rip;
          c.backendFrom = 'director';
        }
      }
      // A TCP SYN, or any UDP datagram (its flow's first one created the IPVS entry), reaching
      // the director: the scheduler made a decision even if nothing was forwarded.
      if (r.role === 'Di' && ((r.flags & SYN) !== 0 || r.proto === 'udp')) c.scheduled = true;
    }
  }
  if (c.backend !== null) return;
  for (const r of c.records) {
    if (r.role !== 'R') continue;
    const p = ctx.points[r.point]!;
    if (p.rsIp) {
      c.backend = p.rsIp;
      c.backendFrom = 'rs';
      return;
    }
  }
}
