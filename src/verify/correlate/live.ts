/**
 * The connections currently holding packets, shared by the NAT/DR/TUN and the FullNAT trackers:
 * attaching a record and the counters that show memory is bounded by live connections, not by
 * capture length (stats.maxLiveConnections / maxLivePackets).
 */
import { TcpFlag } from '../../decode/packet.js';
import type { Connection, PartState } from '../model/connection.js';
import type { PacketRecord } from '../model/record.js';

/** What a TCP close leaves on a connection (or a FullNAT leg not yet linked to one). */
export type CloseState = Pick<Connection, 'closed' | 'finC2s' | 'finS2c'>;

/** Closed by an RST either way, or once both directions sent a FIN. */
export function noteClose(s: CloseState, r: PacketRecord): void {
  if ((r.flags & TcpFlag.RST) !== 0) s.closed = true;
  if ((r.flags & TcpFlag.FIN) !== 0) {
    if (r.c2s) s.finC2s = true;
    else s.finS2c = true;
    if (s.finC2s && s.finS2c) s.closed = true;
  }
}

/**
 * A connection holding this many records is looked at for a part at the next sweep
 * (judgeableBefore): below it, a connection is judged whole when it closes, as every short one
 * is. After a part, the next look waits until it holds twice what the part left, so that each
 * record is grouped into traces about twice at most however fast the connection runs.
 */
export const PART_MIN_RECORDS = 1 << 15;

/**
 * How far behind the merge a part ends, in windows of corrected time: a trace is complete once
 * no copy can still come (a window after its first copy, records merged up to a window late
 * when they waited for their endpoint, and the full grace's two windows); what lies between
 * the part's end and the merge is context rules read (a retransmission, the ACK that proves a
 * packet arrived) and is judged in a later part. The first part also holds at least this much
 * after the connection's first packet, so the handshake and its answers are judged together.
 */
export const PART_LAG_WINDOWS = 4;

export class LiveConnections {
  readonly active = new Set<Connection>();
  /** The closed ones among them: between idle scans, a sweep only looks at these. */
  private readonly closing = new Set<Connection>();
  /** Corrected time of the next scan of every live connection for idleness (due). */
  private nextIdleScan = -Infinity;
  /** Open connections holding at least their `nextPart` records: sweeps judge parts of them. */
  private readonly heavy = new Set<Connection>();
  /** Parts judged (connections judged while open, a part at a time). */
  parts = 0;
  /** Records attached to a connection over the run. */
  correlated = 0;
  /** Records held right now, and the most held at once. */
  held = 0;
  maxHeld = 0;
  /** Most connections holding records at once. */
  maxActive = 0;

  /** `partMin`: records a connection holds before it is judged in parts (PART_MIN_RECORDS;
   *  Infinity: every connection is judged whole). */
  constructor(private readonly partMin = PART_MIN_RECORDS) {}

  /** Adds a record to its connection, reopening a judged one (a long idle gap splits it). */
  attach(c: Connection, r: PacketRecord): void {
    if (!this.active.has(c)) {
      if (c.segments > 0) c.records = [];
      c.segments++;
      c.part = null;
      this.active.add(c);
      if (this.active.size > this.maxActive) this.maxActive = this.active.size;
    }
    c.records.push(r);
    this.hold(1);
    if (r.t > c.lastT) c.lastT = r.t;
    if (c.records.length >= (c.part === null ? this.partMin : c.part.nextPart)) this.goHeavy(c);
    noteClose(c, r);
    if (c.closed) this.closing.add(c);
    this.correlated++;
  }

  /** The connection holds enough records to be looked at for a part at the next sweep. */
  private goHeavy(c: Connection): void {
    if (c.part === null) {
      let openT = Infinity;
      for (const r of c.records) if (r.t < openT) openT = r.t;
      c.part = { parts: 0, judgedUpTo: -Infinity, keyT: 0, openT, nextPart: this.partMin, walkFrom: 0, walkTo: -1, carry: 0 };
    }
    this.heavy.add(c);
  }

  /** Counts records held outside connections too (FullNAT legs waiting to be linked). */
  hold(n: number): void {
    this.held += n;
    if (this.held > this.maxHeld) this.maxHeld = this.held;
  }

  /**
   * Connections due for judgement: closed and quiet for `graceNs`, or idle for `idleNs`. Sweeps
   * come every sixteenth of a window; walking every live connection each time cost a long,
   * quiet capture with many idle keep-alive connections far more than its packets did. So a
   * sweep looks at the closed ones, and at all of them for idleness only when `now` crosses a
   * multiple of `idleStepNs` (a multiple of the sweep grid), judged as of that multiple: the
   * connections a thread of a split run judges do not depend on when its sweeps fall. An idle
   * connection is judged up to `idleStepNs` after its idle time. When the idle time is within
   * the grace (UDP flows, which never close), every sweep looks at every connection.
   */
  due(now: number, graceNs: number, idleNs: number, idleStepNs: number): Connection[] {
    const out: Connection[] = [];
    if (idleNs <= graceNs) {
      for (const c of this.active) if (now - c.lastT > idleNs) out.push(c);
      return out;
    }
    for (const c of this.closing) if (now - c.lastT > graceNs) out.push(c);
    if (now >= this.nextIdleScan) {
      const at = Math.floor(now / idleStepNs) * idleStepNs;
      for (const c of this.active) if (!c.closed && at - c.lastT > idleNs) out.push(c);
      this.nextIdleScan = at + idleStepNs;
    }
    return out;
  }

  /**
   * Open connections with a part to judge at `now`, and where each part ends: the corrected
   * time up to which traces (by their first copy) are complete (PART_LAG_WINDOWS), on a grid of
   * whole windows so that where parts fall does not depend on when sweeps come. A connection
   * whose part would be empty, or too close to its first packet, waits for a later sweep.
   */
  judgeableBefore(now: number, windowNs: number): { c: Connection; part: PartState; upTo: number }[] {
    const out: { c: Connection; part: PartState; upTo: number }[] = [];
    if (this.heavy.size === 0) return out;
    const lag = PART_LAG_WINDOWS * windowNs;
    const upTo = Math.floor((now - lag) / windowNs) * windowNs;
    for (const c of this.heavy) {
      const part = c.part;
      if (part === null || c.records.length < part.nextPart) {
        this.heavy.delete(c);
        continue;
      }
      if (upTo - part.openT >= lag && upTo > part.judgedUpTo) out.push({ c, part, upTo });
    }
    return out;
  }

  /** A part of `c` was judged: `dropped` records are no longer held; the next part waits until
   *  the connection holds twice what is left. */
  partJudged(c: Connection, part: PartState, dropped: number): void {
    this.parts++;
    this.held -= dropped;
    part.nextPart = Math.max(this.partMin, 2 * c.records.length);
    if (c.records.length < part.nextPart) this.heavy.delete(c);
  }

  /** The connection was judged: it holds nothing any more. */
  release(c: Connection): void {
    this.active.delete(c);
    this.closing.delete(c);
    this.heavy.delete(c);
    this.held -= c.records.length;
  }
}
