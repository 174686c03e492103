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
import type { PacketRecord } from '../model/record.js';

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

/** True when the trace already holds a copy from r's point in r's role. */
function slotTaken(t: Trace, r: PacketRecord): boolean {
  const list = t.list;
  for (let i = 0; i < list.length; i++) {
    const x = list[i]!;
    if (x.point === r.point && x.role === r.role) return true;
  }
  return false;
}

/** Up to this many records, open traces are found by scanning the connection's traces (a
 *  short connection has a handful); longer ones index them by key. Same order either way. */
const SCAN_MAX = 64;

/** A new trace: fresh, unless the tracker lends it one it reuses (connections.ts). */
export type TraceMaker = (c2s: boolean, key: number, t0: number) => Trace;

export const newTrace: TraceMaker = (c2s, key, t0) => ({ c2s, key, list: [], path: null, pathStore: null, t0, C: undefined, Di: undefined, De: undefined, R: undefined });

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
    if (candidates !== undefined) {
      for (const t of candidates) {
        if (t.key !== key || Math.abs(r.t - t.t0) > windowNs || slotTaken(t, r)) continue;
        const fit = g.fit(t, r);
        if (fit === FIT_BEST) {
          chosen = t;
          break;
        }
        if (fit === FIT_MAYBE) chosen ??= t;
      }
    }
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
