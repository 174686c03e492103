/**
 * The outcome of one `verify` (or `arp`) run: what every reporter (text, JSON, JUnit,
 * evidence pcapng) renders. The JSON reporter writes it nearly as is (cli.md "verify").
 */
import type { TimelineRow } from '../arp/types.js';
import type { DirectorInference, RoleInference } from './roles.js';
import type { Finding, NotEvaluated } from './findings.js';

export interface PointSummary {
  /** "client", "director", "rs:10.0.0.11". */
  point: string;
  captures: string[];
  frames: number;
  /** Estimated clock offset against the client capture in ms (null when not estimable). */
  clockOffsetMs: number | null;
  /** First and last frame, in the reference clock (ISO 8601; null for a capture without frames). */
  first: string | null;
  last: string | null;
  /** Frames of the point's captures read through a mirror/overlay transport (`--decap`), and
   *  the first such frame's transport (`ERSPAN II session 42`); absent when there were none. */
  mirror?: { frames: number; transport: string };
}

/** Per-rule tally for the summary table: how often the rule was checked and failed. */
export interface RuleTally {
  rule: string;
  /** "pass" | "fail" | "not-evaluated" */
  status: 'pass' | 'fail' | 'not-evaluated';
  checked: number;
  failed: number;
}

/**
 * pass: rules were judged and none found an error; fail: an error finding; no-data: nothing of
 * the service was found to judge (wrong VIP, unrelated captures, captures that do not overlap),
 * which must never read as a pass (exit 3).
 */
export type Verdict = 'pass' | 'fail' | 'no-data';

/** What the captures held of one service. */
export interface ServiceTraffic {
  /** "TCP 192.0.2.10:80". */
  service: string;
  /** Connections judged. */
  connections: number;
  /** Of them, those with a packet seen at two points on its path (director ingress and egress
   *  count as two). */
  matched: number;
}

export interface VerifyResult {
  verdict: Verdict;
  /** Why the verdict is no-data (absent otherwise). */
  noDataReason?: string;
  /** Per service, what the captures held of it (verify; absent for `arp`). */
  traffic?: ServiceTraffic[];
  /** Service(s) as configured or inferred (JSON-friendly plain object). */
  service: unknown;
  /** True when the service was inferred from traffic rather than configured. */
  serviceInferred: boolean;
  profile: string;
  points: PointSummary[];
  findings: Finding[];
  notEvaluated: NotEvaluated[];
  rules: RuleTally[];
  stats: Record<string, number>;
  /** Verify engine extras (optional so other producers need not fill them). */
  connections?: ConnectionLadder[];
  clockOffsets?: ClockOffset[];
  /** Who the ARP / neighbor discovery analysis took for the directors, real servers and routers. */
  arp?: { directors: DirectorInference[]; roles: RoleInference[] };
  /** Which MACs sent ARP as which IP, and when (the ARP analysis's timeline): charts only, not in JSON. */
  arpTimeline?: TimelineRow[];
  /** Connections per real server over time, every judged connection counted: charts only, not in JSON. */
  scheduling?: SchedulingSeries;
}

/** How many connections each real server got in each of equal slices of the run's time. */
export interface SchedulingSeries {
  /** Start of the first slice: ms since the epoch, corrected time. */
  startMs: number;
  sliceMs: number;
  /** Per real server (RIP), the connections whose first SYN fell in each slice. */
  perRs: Array<{ rs: string; counts: number[] }>;
}

/** One copy of a packet at one capture point, for ladder diagrams (verify engine). */
export interface LadderCopy {
  point: string;
  /** client | director-in | director-out | rs */
  role: 'client' | 'director-in' | 'director-out' | 'rs';
  capture: string;
  frame: number;
  /** ms since the connection's first packet, clock-corrected. */
  tMs: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  ttl: number;
  ipId: number;
  srcMac: string | null;
  dstMac: string | null;
  /** Outer header of a tunnelled copy. */
  outer: { src: string; dst: string; ttl: number; proto: number } | null;
  /** Fields that differ from the previous copy on the path (e.g. "dst", "ttl", "dstMac", "outer";
   *  FullNAT also "seq", "ack", "toa"). */
  changed: string[];
  /** FullNAT: this copy's own seq/ack (the legs differ by the seq delta) and its TOA
   *  ("toa 198.51.100.7:46731", as `lvsaudit decode` prints it). */
  seq?: number;
  ack?: number;
  toa?: string;
}

/** FullNAT facts of a connection for its ladder. */
export interface FullnatLadder {
  lip: string;
  lport: number;
  rip: string;
  rport: number;
  /** RS-leg seq − client seq (mod 2^32), as a signed number; null when no packet was seen on both legs. */
  seqDelta: number | null;
  /** TOA of the handshake-completing ACK toward the RS (what the RS module reads); null: none. */
  toaAtHandshake: string | null;
}

export interface LadderPacket {
  direction: 'c2s' | 's2c';
  flags: string;
  seq: number;
  ack: number;
  payloadLen: number;
  copies: LadderCopy[];
}

export interface ConnectionLadder {
  /** "tcp 198.51.100.7:40000 -> 192.0.2.10:80" (same text as Finding.conn). */
  conn: string;
  client: string;
  realServer: string | null;
  start: string;
  packets: LadderPacket[];
  /** Rule ids of findings about this connection. */
  rules: string[];
  /** FullNAT connections only. */
  fullnat?: FullnatLadder;
}

/** Per-capture clock estimate (capture.clock-offset). */
export interface ClockOffset {
  point: string;
  offsetMs: number;
  spreadMs: number;
  pairs: number;
  against: string;
}
