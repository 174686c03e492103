/**
 * A connection as correlation builds it and judging reads it: its packet copies grouped into
 * traces (the copies of one packet across the capture points) and what the scheduling rules
 * keep after its packets are dropped.
 */
import type { PacketRecord, PacketRef } from './record.js';

export interface Trace {
  c2s: boolean;
  /** The grouping key of its copies (correlate/traces.ts). */
  key: number;
  /** Copies in corrected-time order, at most one per (point, role) slot. */
  list: PacketRecord[];
  /** The copies in path order, once rules asked for it (judge/rules/common.ts pathOrder): the list
   *  itself when it is in path order, else `pathStore` filled in that order. */
  path: PacketRecord[] | null;
  pathStore: PacketRecord[] | null;
  t0: number;
  /** The copies carry the same bytes cut differently: a TSO/GSO super-segment at one point and
   *  the segments it was cut into at another, or segments GRO merged (correlate/traces.ts
   *  joinSegments). `list` then holds one copy per slot, the one that starts the byte range
   *  (same sequence number and IP ID at every point), and `pieces` the slots' other copies. */
  segmented: boolean;
  pieces: PacketRecord[] | null;
  /** The first copy in each role (of `list`), set as copies are grouped: every rule family
   *  asks for them at every trace. */
  C: PacketRecord | undefined;
  Di: PacketRecord | undefined;
  De: PacketRecord | undefined;
  R: PacketRecord | undefined;
}

export interface Connection {
  client: string;
  cport: number;
  isn: number | null;
  records: PacketRecord[];
  traces: Trace[];
  /** RIP the director sent it to (or where it was seen), null when unknown. */
  backend: string | null;
  /** How the backend was learned. */
  backendFrom: 'director' | 'rs' | null;
  /** Corrected time of the first SYN (director ingress if seen, else any point). */
  synT: number | null;
  /** The first SYN copy at the director (ingress), the evidence of the scheduling decision. */
  synAtDirector: PacketRef | null;
  /** The first client SYN copy anywhere, and the first forwarded one (director egress or RS);
   *  kept after the connection's packets are dropped (scheduling evidence). */
  synRecord: PacketRef | null;
  fwdSynRecord: PacketRef | null;
  /** The connection's SYN passed the director (it was scheduled there). */
  scheduled: boolean;
  lastT: number;
  /** RST seen, or FIN in both directions. */
  closed: boolean;
  finC2s: boolean;
  finS2c: boolean;
  /** How many times it was (re)opened: > 1 when judged idle and then continued. */
  segments: number;
}
