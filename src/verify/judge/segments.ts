/**
 * Which TCP copies were captured before segmentation or after receive merging
 * (capture-artifacts.md §2): a sender with TSO/GSO hands its tap one super-segment of up to
 * 64 KB, a receiver with GRO shows consecutive segments merged. Such a copy is not what crossed
 * the wire: its checksum is not final, its size says nothing about MTUs, and its ACK, window
 * and PSH are those of another segment than the one it starts with.
 *
 * A copy is a super-segment when it carries more than the peer accepts in one segment (the MSS
 * of the SYN or SYN-ACK it answers), or, where it was received, when the same bytes are cut
 * smaller at another point of its trace (a joined trace, correlate/traces.ts joinSegments).
 * Without a handshake in the captures, more than a standard Ethernet payload is the sign.
 */
import type { Connection, Trace } from '../model/connection.js';
import type { PacketRecord } from '../model/record.js';

/** The largest IP packet of a standard 1500-byte MTU: the limit when no MSS is known. */
const ETHERNET_MTU = 1500;

/** Per connection: the MSS each side announced (0 when its SYN was not captured). */
export class SegmentLimits {
  /** The largest payload the server accepts (client → server), from the server's SYN-ACK. */
  c2s = 0;
  /** The largest payload the client accepts, from its SYN. */
  s2c = 0;

  /** Loads connection `c`'s limits (the largest MSS each way over every copy: a FullNAT
   *  director lowers it on one leg, and a copy is a super-segment only above both). */
  of(c: Connection): void {
    this.c2s = 0;
    this.s2c = 0;
    for (const t of c.traces) {
      const r = t.list[0];
      if (r === undefined || r.proto !== 'tcp' || (r.flags & 0x02) === 0) continue;
      for (const x of t.list) {
        if (x.mss === 0) continue;
        // The SYN's MSS limits what the other side sends.
        if (t.c2s && x.mss > this.s2c) this.s2c = x.mss;
        if (!t.c2s && x.mss > this.c2s) this.c2s = x.mss;
      }
    }
  }
}

/** True when copy `r` of trace `t` holds more bytes than one segment on the wire. */
export function isSuperSegment(limits: SegmentLimits, t: Trace, r: PacketRecord): boolean {
  if (r.proto !== 'tcp' || r.payloadLen === 0) return false;
  // Bytes cut smaller elsewhere show a merge only where the copy was received (GRO works on
  // the way in): a sender's or forwarder's copy is judged by the MSS alone.
  if (t.segmented && receivedHere(t, r)) {
    for (const x of t.list) if (x.payloadLen < r.payloadLen) return true;
  }
  const mss = t.c2s ? limits.c2s : limits.s2c;
  if (mss > 0) return r.payloadLen > mss;
  return r.ip.totalLen > ETHERNET_MTU;
}

/**
 * True when copy `r` was captured where it was received (director ingress, or its final
 * receiver): the only places GRO merges segments. A merged packet's TCP checksum is not that of
 * its bytes; a super-segment a sender or forwarder captured on its way out carries the partial
 * sum (GSO needs it), so a wrong checksum that is not partial there is a real one.
 */
export function receivedHere(t: Trace, r: PacketRecord): boolean {
  return r.role === 'Di' || (t.c2s ? r.role === 'R' : r.role === 'C');
}
