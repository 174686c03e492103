/**
 * The order of the report: findings and ladder diagrams follow the connections they are about,
 * by the corrected time of each judged connection's first packet, then by its identity. The
 * order in which the engine happens to judge connections depends on when it sweeps, and a run
 * split over threads (verify/parallel) sweeps each share at other moments; this key does not,
 * so a report reads the same however the run was split.
 */
import type { Connection } from '../model/connection.js';

export interface JudgeKey {
  /** Corrected time of the judged segment's first packet (ns). */
  t: number;
  client: string;
  cport: number;
  /** ISN (UDP: generation); -1 when the SYN was not seen. */
  isn: number;
  /** Which opening of the connection (a long idle gap splits one into segments). */
  seg: number;
}

/** Findings raised after every connection was judged (the scheduling rules) sort last. */
export const AFTER_ALL: JudgeKey = { t: Infinity, client: '', cport: 0, isn: 0, seg: 0 };

/** The key of a connection being judged: its records are sorted by time at this point. Every
 *  part of a connection judged in parts (Connection.part) takes the first part's place. */
export function judgeKeyOf(c: Connection): JudgeKey {
  const part = c.part;
  const t = part !== null && part.parts > 0 ? part.keyT : c.records[0]?.t ?? c.lastT;
  if (part !== null) part.keyT = t;
  return { t, client: c.client, cport: c.cport, isn: c.isn ?? -1, seg: c.segments };
}

export function compareJudge(a: JudgeKey, b: JudgeKey): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  return compareText(a.client, b.client) || a.cport - b.cport || a.isn - b.isn || a.seg - b.seg;
}

/** Code-unit order of two texts (addresses, file names), for keys of the report order. */
export function compareText(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}
