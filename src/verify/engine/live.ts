/**
 * The connections currently holding packets, shared by the NAT/DR/TUN and the FullNAT trackers:
 * attaching a record and the counters that show memory is bounded by live connections, not by
 * capture length (stats.maxLiveConnections / maxLivePackets).
 */
import { TcpFlag } from '../../decode/packet.js';
import type { Connection } from './connections.js';
import type { PacketRecord } from './record.js';

export class LiveConnections {
  readonly active = new Set<Connection>();
  /** Records attached to a connection over the run. */
  correlated = 0;
  /** Records held right now, and the most held at once. */
  held = 0;
  maxHeld = 0;
  /** Most connections holding records at once. */
  maxActive = 0;

  /** Adds a record to its connection, reopening a judged one (a long idle gap splits it). */
  attach(c: Connection, r: PacketRecord): void {
    if (!this.active.has(c)) {
      if (c.segments > 0) c.records = [];
      c.segments++;
      this.active.add(c);
      if (this.active.size > this.maxActive) this.maxActive = this.active.size;
    }
    c.records.push(r);
    this.hold(1);
    if (r.t > c.lastT) c.lastT = r.t;
    if ((r.flags & TcpFlag.RST) !== 0) c.closed = true;
    if ((r.flags & TcpFlag.FIN) !== 0) {
      if (r.c2s) c.finC2s = true;
      else c.finS2c = true;
      if (c.finC2s && c.finS2c) c.closed = true;
    }
    this.correlated++;
  }

  /** Counts records held outside connections too (FullNAT legs waiting to be linked). */
  hold(n: number): void {
    this.held += n;
    if (this.held > this.maxHeld) this.maxHeld = this.held;
  }

  /** Connections due for judgement: closed and quiet for `graceNs`, or idle for `idleNs`. */
  due(now: number, graceNs: number, idleNs: number): Connection[] {
    const out: Connection[] = [];
    for (const c of this.active) {
      const quiet = now - c.lastT;
      if ((c.closed && quiet > graceNs) || quiet > idleNs) out.push(c);
    }
    return out;
  }

  /** The connection was judged: it holds nothing any more. */
  release(c: Connection): void {
    this.active.delete(c);
    this.held -= c.records.length;
  }
}
