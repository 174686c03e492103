/**
 * Per-capture clock offsets. Capture hosts are not synchronised, so before copies of one packet
 * can be matched inside a time window, each point's clock is expressed against a reference (the
 * client capture when there is one, else the director). The estimate needs no window at all:
 * a packet's strong invariants (IP ID, TCP seq/ack/flags, payload length and hash) survive NAT,
 * DR and TUN and are practically unique, so keys that occur once in the reference are paired
 * with the earliest copy at the other point, and the offset is the median of the differences.
 * Half the differences are requests (later downstream) and half replies (earlier), so the
 * median sits at the clock offset and the one-way latency shows up as spread. This works for
 * offsets of any size (seconds or hours).
 */
import type { LoadedPoint } from './load.js';
import { numericKey, type PacketRecord } from './record.js';

export interface ClockEstimate {
  /** ns to subtract from the point's timestamps to get reference time; 0 for the reference. */
  offsetNs: number;
  /** Median absolute deviation of the pairwise differences, ns. */
  spreadNs: number;
  /** Matched pairs the estimate rests on (0 = not estimable: offset assumed 0). */
  pairs: number;
  /** Point the offset was measured against directly. */
  via: string;
}

const strongKey = (r: PacketRecord): number =>
  numericKey(r.seq, r.ack, (r.flags << 16) | r.ip.id, r.payloadLen, r.hash, r.proto === 'tcp' ? 6 : 17);

/** Records per point used for the estimate: the offset is one number, a sample pins it. */
const SAMPLE = 20000;

/** Earliest timestamp per key, and how many times the key occurs (over the first SAMPLE records;
 *  the reference gets a larger slice so the other points' samples find their partners even
 *  when their clocks are seconds apart). */
function index(p: LoadedPoint, limit: number): Map<number, { ts: number; n: number }> {
  const m = new Map<number, { ts: number; n: number }>();
  const n = Math.min(p.records.length, limit);
  for (let i = 0; i < n; i++) {
    const r = p.records[i]!;
    const k = strongKey(r);
    const e = m.get(k);
    if (!e) m.set(k, { ts: r.ts, n: 1 });
    else {
      e.n++;
      if (r.ts < e.ts) e.ts = r.ts;
    }
  }
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function pairDiffs(
  a: Map<number, { ts: number; n: number }>,
  b: Map<number, { ts: number; n: number }>,
  maxCopiesA: number,
  maxCopiesB: number,
): number[] {
  const diffs: number[] = [];
  for (const [k, ea] of a) {
    if (ea.n > maxCopiesA) continue;
    const eb = b.get(k);
    // The director sees up to two copies of a packet (ingress, egress); more means a key collision.
    if (!eb || eb.n > maxCopiesB) continue;
    diffs.push(eb.ts - ea.ts);
  }
  return diffs;
}

function estimate(diffs: number[], via: string): ClockEstimate {
  if (diffs.length === 0) return { offsetNs: 0, spreadNs: 0, pairs: 0, via };
  const med = median(diffs);
  const spread = median(diffs.map((d) => Math.abs(d - med)));
  return { offsetNs: med, spreadNs: spread, pairs: diffs.length, via };
}

/** Estimates every point's offset and applies it (`record.t = record.ts - offset`). */
export function estimateClocks(points: readonly LoadedPoint[]): ClockEstimate[] {
  const refIdx = referencePoint(points);
  const ref = points[refIdx];
  const out: ClockEstimate[] = points.map(() => ({ offsetNs: 0, spreadNs: 0, pairs: 0, via: '' }));
  if (!ref) return out;
  const idx = points.map((p, i) => index(p, i === refIdx ? SAMPLE * 4 : SAMPLE));
  const dirIdx = points.findIndex((p) => p.kind === 'director');
  out[refIdx] = { offsetNs: 0, spreadNs: 0, pairs: 0, via: ref.name };
  // Director first, so RS points without common packets with the client can go through it.
  const order = points.map((_, i) => i).sort((a, b) => (a === dirIdx ? -1 : b === dirIdx ? 1 : a - b));
  for (const i of order) {
    if (i === refIdx) continue;
    const p = points[i]!;
    const copies = (q: LoadedPoint): number => (q.kind === 'director' ? 2 : 1);
    let est = estimate(pairDiffs(idx[refIdx]!, idx[i]!, copies(ref), copies(p)), ref.name);
    // Through the director when it matches more packets: a FullNAT RS shares no packet with the
    // client (both legs rewritten), so any direct pair there is a key collision.
    if (dirIdx >= 0 && dirIdx !== i && dirIdx !== refIdx && out[dirIdx]!.pairs > 0) {
      const viaDir = estimate(pairDiffs(idx[dirIdx]!, idx[i]!, 2, 1), points[dirIdx]!.name);
      if (viaDir.pairs > est.pairs) est = { ...viaDir, offsetNs: viaDir.offsetNs + out[dirIdx]!.offsetNs };
    }
    out[i] = est;
  }
  points.forEach((p, i) => {
    const off = out[i]!.offsetNs;
    for (const r of p.records) r.t = r.ts - off;
  });
  return out;
}

/** Index of the reference point (client, else director, else the first). */
export function referencePoint(points: readonly LoadedPoint[]): number {
  const c = points.findIndex((p) => p.kind === 'client');
  if (c >= 0) return c;
  const d = points.findIndex((p) => p.kind === 'director');
  return d >= 0 ? d : 0;
}
