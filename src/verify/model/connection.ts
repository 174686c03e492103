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
  /** Set once the connection holds enough records to be judged in parts while it is open
   *  (correlate/live.ts); null for the others, judged whole (almost all). */
  part: PartState | null;
}

/**
 * A long-lived connection judged in parts while it is open (correlate/live.ts): the traces whose
 * copies have all arrived are judged and dropped, the rest wait.
 */
export interface PartState {
  /** Parts of the current segment judged so far. */
  parts: number;
  /** Corrected time up to which traces (by their first copy) were judged. */
  judgedUpTo: number;
  /** The report position the first part took (judge/order.ts). */
  keyT: number;
  /** Corrected time of the segment's first record. */
  openT: number;
  /** Records held at which the connection is next looked at for a part. */
  nextPart: number;
  /** The traces rules judge now: `traces[walkFrom .. walkTo)` (walkTo −1: to the end). The
   *  traces outside are context that rules may look at (a later retransmission, an ACK). */
  walkFrom: number;
  walkTo: number;
  /** What rules concluded about the whole connection in earlier parts (Carry bits). */
  carry: number;
}

/** Bits of PartState.carry: conclusions an earlier part of the connection reached. */
export const enum Carry {
  /** The sink counted the connection as matched across points. */
  Matched = 1,
  /** nat.reply-bypass was reported for it (once per connection). */
  NatBypass = 2,
}

/** The traces the rules judge now: `traces[walkStart(c) .. walkEnd(c))` (PartState). */
export function walkStart(c: Connection): number {
  return c.part === null ? 0 : c.part.walkFrom;
}

export function walkEnd(c: Connection): number {
  return c.part === null || c.part.walkTo < 0 ? c.traces.length : c.part.walkTo;
}

/** How many parts of the connection were judged before this judgement (0: none). */
export function partsBefore(c: Connection): number {
  return c.part === null ? 0 : c.part.parts;
}
