/**
 * Grouping a connection's records into traces: the copies of one packet as the capture points
 * saw it. Both trackers (connections.ts for NAT/DR/TUN, fnat-tracker.ts for FullNAT) group the
 * same way and differ only in the key (which TCP invariants survive the method) and in which
 * open trace a copy prefers, so the walk lives here once.
 *
 * A trace holds at most one copy per slot (point × role) and spans at most the window; when a
 * packet was retransmitted, the trace whose copies share the record's IP ID wins.
 */
import { isSyn } from '../../decode/proto/tcp.js';
import type { Connection, Trace } from '../model/connection.js';
import { refOf } from '../read/record.js';
import type { PacketRecord, Role } from '../model/record.js';

/** How well an open trace fits a record: NO (never this one), MAYBE (first such trace is
 *  taken if nothing better), BEST (take it now). */
export const FIT_NO = 0;
export const FIT_MAYBE = 1;
export const FIT_BEST = 2;

export interface TraceGrouping {
  /** Number key of the invariants copies of one packet share. */
  key(r: PacketRecord): number;
  /** How an open trace (already free in r's slot and inside the window) fits r. */
  fit(t: Trace, r: PacketRecord): number;
}

/** Position of a role on the path of a packet of direction c2s (client → RS, or the reverse). */
function rankOf(role: Role | null, c2s: boolean): number {
  switch (role) {
    case 'C':
      return c2s ? 0 : 3;
    case 'Di':
      return 1;
    case 'De':
      return 2;
    case 'R':
      return c2s ? 3 : 0;
    default:
      return -1;
  }
}

/**
 * Across points the corrected clocks can be off by a forwarding delay (correlate/clock.ts reads
 * part of a slow director's latency as clock offset): a copy upstream on the path is taken for
 * another packet only when captured more than this share of the window after a downstream copy.
 */
const ORDER_SLACK_SHARE = 10;

/**
 * True when the trace already holds a copy from r's point in r's role, or a copy r cannot be
 * of the same packet as: one downstream of r on the path that was captured before r (a packet
 * leaves the director after it came in, reaches the real server after it left the director). On
 * one capture clock (the director's ingress and egress) the order is exact; across points,
 * within a tenth of the window (ORDER_SLACK_SHARE). Such an r is a retransmission of bytes the trace's copies carried in
 * other segments (segmentation offload cuts them differently at each point).
 */
function slotTaken(t: Trace, r: PacketRecord, windowNs: number): boolean {
  const list = t.list;
  const mine = rankOf(r.role, r.c2s);
  for (let i = 0; i < list.length; i++) {
    const x = list[i]!;
    if (x.point === r.point && x.role === r.role) return true;
    if (mine < 0 || rankOf(x.role, r.c2s) <= mine) continue;
    if (r.t - x.t > (x.point === r.point ? 0 : windowNs / ORDER_SLACK_SHARE)) return true;
  }
  return false;
}

/**
 * How far apart a port mirror's two copies of one frame can be (capture-artifacts.md §4: a SPAN
 * session copying both directions of the ports shows a frame as it entered the switch and as it
 * left it, a forwarding time apart). A sender's own second send of a segment comes after a
 * retransmission timeout (TCP_RTO_MIN 200 ms) or a round trip of duplicate ACKs, and over IPv4
 * with the next IP ID.
 */
const MIRROR_COPY_NS = 1e6;

/**
 * True when the trace already holds, at r's slot, the same frame as r: the same IP ID, TCP
 * sequence, acknowledgement and flags, payload length and (where both copies hold it) payload,
 * captured within MIRROR_COPY_NS. A mirror may cut its second copy shorter, so a copy whose
 * payload the capture cut is compared on the rest.
 */
function mirrorCopy(t: Trace, r: PacketRecord): boolean {
  for (const x of t.list) {
    if (x.point !== r.point || x.role !== r.role || Math.abs(r.t - x.t) > MIRROR_COPY_NS) continue;
    if (x.ip.id !== r.ip.id || x.payloadLen !== r.payloadLen || x.proto !== r.proto) continue;
    if (r.proto === 'tcp' && (x.seq !== r.seq || x.ack !== r.ack || x.flags !== r.flags)) continue;
    if (x.hash >= 0 && r.hash >= 0 && x.hash !== r.hash) continue;
    return true;
  }
  return false;
}

/** Traces looked back through for the copy a payload-cut mirror copy repeats. */
const MIRROR_LOOKBACK = 16;

function recentMirrorCopy(traces: readonly Trace[], r: PacketRecord): boolean {
  for (let i = traces.length - 1; i >= 0 && i >= traces.length - MIRROR_LOOKBACK; i--) if (mirrorCopy(traces[i]!, r)) return true;
  return false;
}

/** Up to this many records, open traces are found by scanning the connection's traces (a
 *  short connection has a handful); longer ones index them by key. Same order either way. */
const SCAN_MAX = 64;

/** A new trace: fresh, unless the tracker lends it one it reuses (connections.ts). */
export type TraceMaker = (c2s: boolean, key: number, t0: number) => Trace;

export const newTrace: TraceMaker = (c2s, key, t0) => ({
  c2s,
  key,
  list: [],
  path: null,
  pathStore: null,
  t0,
  segmented: false,
  pieces: null,
  C: undefined,
  Di: undefined,
  De: undefined,
  R: undefined,
});

/** Empties an array and keeps its storage for the next pushes (reused traces and their arrays):
 *  V8 frees the storage of an array whose length is set to 0, and pops only shorten it, so
 *  refilling a popped array allocates nothing. */
export function emptyKeepingStorage(a: unknown[]): void {
  while (a.length > 0) a.pop();
}

function sortedByTime(rs: readonly PacketRecord[]): boolean {
  for (let i = 1; i < rs.length; i++) if (rs[i]!.t < rs[i - 1]!.t) return false;
  return true;
}

/**
 * Sets `c.traces` to `into` (empty) filled from `c.records`, which it first sorts by corrected
 * time where they are not (records merge in that order; only late ones, retried or linked,
 * break it), and the connection's SYN bookkeeping: first client SYN anywhere, first forwarded
 * SYN, SYN time at the director.
 */
export function groupTraces(c: Connection, windowNs: number, g: TraceGrouping, into: Trace[] = [], make: TraceMaker = newTrace): void {
  if (!sortedByTime(c.records)) c.records.sort((a, b) => a.t - b.t);
  const byKey = c.records.length > SCAN_MAX ? new Map<number, Trace[]>() : null;
  const traces = (c.traces = into);
  for (const r of c.records) {
    if (r.t > c.lastT) c.lastT = r.t;
    const key = g.key(r);
    const candidates = byKey === null ? traces : byKey.get(key);
    let chosen: Trace | null = null;
    let duplicate = false;
    if (candidates !== undefined) {
      for (const t of candidates) {
        if (t.key !== key || Math.abs(r.t - t.t0) > windowNs) continue;
        if (slotTaken(t, r, windowNs)) {
          if (mirrorCopy(t, r)) {
            duplicate = true;
            break;
          }
          continue;
        }
        const fit = g.fit(t, r);
        if (fit === FIT_BEST) {
          chosen = t;
          break;
        }
        if (fit === FIT_MAYBE) chosen ??= t;
      }
    }
    if (duplicate) continue;
    // A mirror's copy cut inside the payload has no hash, so where the grouping keys on the
    // payload (FullNAT UDP) it finds another key than the copy it repeats: the latest traces
    // are where that copy is, as a mirror sends its second copy within MIRROR_COPY_NS.
    if (!chosen && r.hash === -1 && recentMirrorCopy(traces, r)) continue;
    if (!chosen) {
      chosen = make(r.c2s, key, r.t);
      traces.push(chosen);
      if (byKey !== null) {
        const same = byKey.get(key);
        if (same) same.push(chosen);
        else byKey.set(key, [chosen]);
      }
    }
    chosen.list.push(r);
    const role = r.role;
    if (role === 'C') chosen.C ??= r;
    else if (role === 'Di') chosen.Di ??= r;
    else if (role === 'De') chosen.De ??= r;
    else if (role === 'R') chosen.R ??= r;
    if (r.c2s && isSyn(r)) {
      c.synRecord ??= refOf(r);
      if (r.role === 'De' || r.role === 'R') c.fwdSynRecord ??= refOf(r);
      if (c.synT === null || (r.role === 'Di' && c.synAtDirector === null)) c.synT = r.t;
      if (r.role === 'Di' && c.synAtDirector === null) c.synAtDirector = refOf(r);
    }
  }
}

/** A TCP data trace's first copy (its representative), or null for one that carries no data
 *  or is an IP fragment. */
function dataCopy(t: Trace, c2s: boolean): PacketRecord | null {
  const r = t.list[0];
  if (r === undefined || t.c2s !== c2s || r.proto !== 'tcp' || r.payloadLen === 0) return null;
  // A first IP fragment overlaps the datagram the director reassembled and forwarded; the flow
  // rules know that pair (flow.ts refusedAsSpecified), it is not a segmentation offload.
  for (const x of t.list) if (x.ip.mf) return null;
  return r;
}

/**
 * Whether some data trace of one direction overlaps an earlier one: the only way copies of the
 * same bytes can have been cut differently (or retransmitted). One pass, no allocation: the
 * common connection, whose segments follow each other, costs a comparison per trace.
 */
function overlapsEarlier(c: Connection, c2s: boolean): boolean {
  let base = 0;
  let maxEnd = -1;
  for (const t of c.traces) {
    const r = dataCopy(t, c2s);
    if (r === null) continue;
    if (maxEnd < 0) base = r.seq;
    const start = (r.seq - base) >>> 0;
    if (start < maxEnd) return true;
    if (start + r.payloadLen > maxEnd) maxEnd = start + r.payloadLen;
  }
  return false;
}

/** One byte range of a data copy, relative to the direction's first sequence number. */
interface Span {
  slot: string;
  start: number;
  end: number;
}

/** A group of traces being joined: the byte ranges its copies hold, per slot. */
class JoinGroup {
  readonly members: Trace[] = [];
  readonly spans: Span[] = [];

  /** True when `other` holds no range that overlaps one of ours at the same slot: the two are
   *  pieces of one packet's bytes, not a packet and its retransmission. */
  fits(other: JoinGroup): boolean {
    for (const a of this.spans) {
      for (const b of other.spans) if (a.slot === b.slot && a.start < b.end && b.start < a.end) return false;
    }
    return true;
  }

  absorb(other: JoinGroup): void {
    this.members.push(...other.members);
    this.spans.push(...other.spans);
  }
}

const slotOf = (r: PacketRecord): string => `${r.point}|${r.role}`;

/**
 * Joins the traces that hold the same bytes cut differently at different points
 * (capture-artifacts.md §2): a sender with TSO/GSO is captured before the NIC cuts its 64 KB
 * super-segment into MSS-size segments, a receiver with GRO after it merged them, and a director
 * may do either. Grouped by exact (seq, length), such copies fall into different traces, each
 * missing the points where the bytes were cut otherwise, and the flow rules would call them
 * lost. Traces of one direction whose byte ranges overlap and lie within the window of each
 * other are joined, the closest in time first, as long as no slot would then hold the same
 * bytes twice: a retransmission repeats bytes at the slots its original passed, so it stays
 * apart, and segments join the copy they were cut from or merged into rather than an earlier
 * transmission of the same bytes. A joined trace's list holds, per slot, the copy that starts
 * the range (it has the super-segment's sequence number and IP ID: GSO gives the first segment
 * the super-segment's ID, GRO keeps the first segment's header), the other copies in `pieces`.
 */
export function joinSegments(c: Connection, windowNs: number, leg?: SeqLeg): void {
  if (c.traces.length < 2) return;
  for (const c2s of [true, false]) {
    // With legs in two sequence spaces a trace's first copy says nothing about the others':
    // every direction with data is joined the long way.
    if (leg !== undefined || overlapsEarlier(c, c2s)) joinDirection(c, c2s, windowNs, leg);
  }
}

/**
 * Which sequence space a copy is in, for a method that shifts one (FullNAT: the client leg and
 * the real-server leg of client data differ by the connection's delta). Byte ranges are then
 * measured from each leg's own first sequence number: its SYN's, else its first data copy's.
 */
export type SeqLeg = (r: PacketRecord) => 'client' | 'rs';

/** Where each leg's byte stream starts, in direction `c2s`. */
function legBases(c: Connection, c2s: boolean, data: readonly Trace[], leg: SeqLeg | undefined): (r: PacketRecord) => number {
  const of = leg ?? ((): 'client' => 'client');
  const base = new Map<string, number>();
  for (const t of c.traces) {
    if (t.c2s !== c2s || t.list[0] === undefined || (t.list[0].flags & 0x02) === 0) continue;
    for (const r of t.list) if (!base.has(of(r))) base.set(of(r), (r.seq + 1) >>> 0);
  }
  const first = new Map<string, PacketRecord>();
  for (const t of data) {
    for (const r of t.list) {
      const f = first.get(of(r));
      if (f === undefined || r.t < f.t) first.set(of(r), r);
    }
  }
  for (const [l, r] of first) if (!base.has(l)) base.set(l, r.seq);
  return (r) => (r.seq - base.get(of(r))!) >>> 0;
}

function joinDirection(c: Connection, c2s: boolean, windowNs: number, leg?: SeqLeg): void {
  const data = c.traces.filter((t) => dataCopy(t, c2s) !== null);
  if (data.length < 2) return;
  const rel = legBases(c, c2s, data, leg);
  const start = (t: Trace): number => rel(t.list[0]!);
  const end = (t: Trace): number => start(t) + t.list[0]!.payloadLen;
  data.sort((a, b) => start(a) - start(b) || a.t0 - b.t0);
  const groups = data.map((t) => {
    const g = new JoinGroup();
    g.members.push(t);
    for (const r of t.list) g.spans.push({ slot: slotOf(r), start: rel(r), end: rel(r) + r.payloadLen });
    return g;
  });
  // Candidate pairs: overlapping byte ranges within the window, closest in time first.
  const pairs: [number, number, number][] = [];
  for (let i = 0; i < data.length; i++) {
    const e = end(data[i]!);
    for (let j = i + 1; j < data.length && start(data[j]!) < e; j++) {
      const dt = Math.abs(data[i]!.t0 - data[j]!.t0);
      if (dt <= windowNs) pairs.push([dt, i, j]);
    }
  }
  if (pairs.length === 0) return;
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const owner = groups.map((_, i) => i);
  const root = (i: number): number => {
    let x = i;
    while (owner[x] !== x) x = owner[x] = owner[owner[x]!]!;
    return x;
  };
  let joined = false;
  for (const [, i, j] of pairs) {
    const ra = root(i);
    const rb = root(j);
    if (ra === rb || !groups[ra]!.fits(groups[rb]!)) continue;
    const [keep, gone] = ra < rb ? [ra, rb] : [rb, ra];
    groups[keep]!.absorb(groups[gone]!);
    owner[gone] = keep;
    joined = true;
  }
  if (!joined) return;
  const gone = new Set<Trace>();
  groups.forEach((g, i) => {
    if (owner[i] !== i || g.members.length < 2) return;
    const bySlot = new Map<string, PacketRecord[]>();
    for (const m of g.members) {
      for (const r of m.list) {
        const slot = slotOf(r);
        const l = bySlot.get(slot);
        if (l) l.push(r);
        else bySlot.set(slot, [r]);
      }
    }
    const list: PacketRecord[] = [];
    const pieces: PacketRecord[] = [];
    for (const copies of bySlot.values()) {
      copies.sort((a, b) => rel(a) - rel(b) || a.t - b.t);
      list.push(copies[0]!);
      for (let k = 1; k < copies.length; k++) pieces.push(copies[k]!);
    }
    list.sort((a, b) => a.t - b.t);
    // The earliest member (in the connection's order) takes the group's place.
    const members = g.members;
    const keep = members.reduce((a, b) => (c.traces.indexOf(a) <= c.traces.indexOf(b) ? a : b));
    keep.list.length = 0;
    keep.list.push(...list);
    keep.C = list.find((r) => r.role === 'C');
    keep.Di = list.find((r) => r.role === 'Di');
    keep.De = list.find((r) => r.role === 'De');
    keep.R = list.find((r) => r.role === 'R');
    keep.pieces = pieces;
    keep.segmented = true;
    keep.path = null;
    keep.t0 = Math.min(...members.map((m) => m.t0));
    for (const m of members) if (m !== keep) gone.add(m);
  });
  if (gone.size > 0) {
    const kept = c.traces.filter((t) => !gone.has(t));
    c.traces.length = 0;
    c.traces.push(...kept);
  }
}
