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
import type { LoadedPoint } from '../read/points.js';
import { numericKey } from '../read/record.js';
import type { PacketRecord } from '../model/record.js';

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

/**
 * Earliest timestamp per strong key and how many times the key occurs: an open-addressing table
 * in one Float64Array. The keys are 53-bit doubles, so a Map would box a heap number per lookup
 * and hold an object per key; here nothing is allocated per record, and a slot's key, time and
 * count share a cache line (the table is bigger than the CPU caches: each probe is a miss).
 */
class KeyIndex {
  /** Slot i: [4i] key, [4i+1] earliest ts, [4i+2] occurrences (0 = empty slot). */
  readonly slots: Float64Array;
  readonly mask: number;

  constructor(entries: number) {
    let cap = 16;
    while (cap < entries * 1.5) cap *= 2; // load factor ≤ 2/3: short linear probe runs
    this.slots = new Float64Array(cap * 4);
    this.mask = cap - 1;
  }

  /** Offset in `slots` of `key`'s slot, or of the empty slot where it would go. */
  find(key: number): number {
    // numericKey = h1·2^21 + (21 bits of h2), both halves already mixed hashes; dividing by a
    // power of two is exact, and cheaper than the float modulo.
    const hi = Math.floor(key / 2097152);
    const lo = key - hi * 2097152;
    const t = this.slots;
    let s = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    while (t[s * 4 + 2] !== 0 && t[s * 4] !== key) s = (s + 1) & this.mask;
    return s * 4;
  }

  add(key: number, ts: number): void {
    const o = this.find(key);
    const t = this.slots;
    if (t[o + 2] === 0) {
      t[o] = key;
      t[o + 1] = ts;
      t[o + 2] = 1;
    } else {
      t[o + 2]++;
      if (ts < t[o + 1]!) t[o + 1] = ts;
    }
  }
}

/** Index over the first `limit` records (the reference gets a larger slice so the other points'
 *  samples find their partners even when their clocks are seconds apart). */
function index(p: LoadedPoint, limit: number): KeyIndex {
  const n = Math.min(p.records.length, limit);
  const m = new KeyIndex(n);
  for (let i = 0; i < n; i++) {
    const r = p.records[i]!;
    m.add(strongKey(r), r.ts);
  }
  return m;
}

/** Exchanges xs[i] and xs[j]. */
function swap(xs: Float64Array, i: number, j: number): void {
  const t = xs[i]!;
  xs[i] = xs[j]!;
  xs[j] = t;
}

/**
 * Puts the k-th smallest of xs[0..len) at xs[k], smaller-or-equal ones before it and
 * larger-or-equal ones after (Hoare's selection, median-of-three pivot): a median needs no sort.
 */
function select(xs: Float64Array, len: number, k: number): void {
  let lo = 0;
  let hi = len - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < xs[lo]!) swap(xs, mid, lo);
    if (xs[hi]! < xs[lo]!) swap(xs, hi, lo);
    if (xs[hi]! < xs[mid]!) swap(xs, hi, mid);
    const pivot = xs[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (xs[i]! < pivot) i++;
      while (xs[j]! > pivot) j--;
      if (i <= j) {
        swap(xs, i, j);
        i++;
        j--;
      }
    }
    // Now xs[lo..j] ≤ pivot ≤ xs[i..hi], and xs[j+1..i-1] == pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** Median of xs[0..len) (len > 0), the mean of the two middle values for an even count. Reorders xs. */
function median(xs: Float64Array, len: number): number {
  const mid = len >> 1;
  select(xs, len, mid);
  if (len % 2) return xs[mid]!;
  // After selection everything below mid is ≤ xs[mid]: the lower middle is their maximum.
  let below = xs[0]!;
  for (let i = 1; i < mid; i++) if (xs[i]! > below) below = xs[i]!;
  return (below + xs[mid]!) / 2;
}

/** Pairs up keys occurring at most maxCopiesA times in `a` and maxCopiesB times in `b`; writes
 *  the time differences (b − a) into `out` and returns how many. */
function pairDiffs(a: KeyIndex, b: KeyIndex, maxCopiesA: number, maxCopiesB: number, out: Float64Array): number {
  let len = 0;
  const ta = a.slots;
  const tb = b.slots;
  for (let o = 0; o < ta.length; o += 4) {
    const na = ta[o + 2]!;
    if (na === 0 || na > maxCopiesA) continue;
    const ob = b.find(ta[o]!);
    const nb = tb[ob + 2]!;
    // The director sees up to two copies of a packet (ingress, egress); more means a key collision.
    if (nb === 0 || nb > maxCopiesB) continue;
    out[len++] = tb[ob + 1]! - ta[o + 1]!;
  }
  return len;
}

function estimate(diffs: Float64Array, len: number, via: string): ClockEstimate {
  if (len === 0) return { offsetNs: 0, spreadNs: 0, pairs: 0, via };
  const med = median(diffs, len);
  for (let i = 0; i < len; i++) diffs[i] = Math.abs(diffs[i]! - med);
  const spread = median(diffs, len);
  return { offsetNs: med, spreadNs: spread, pairs: len, via };
}

/** Estimates every point's offset and applies it (`record.t = record.ts - offset`). */
export function estimateClocks(points: readonly LoadedPoint[]): ClockEstimate[] {
  const refIdx = referencePoint(points);
  const ref = points[refIdx];
  const out: ClockEstimate[] = points.map(() => ({ offsetNs: 0, spreadNs: 0, pairs: 0, via: '' }));
  if (!ref) return out;
  const idx = points.map((p, i) => index(p, i === refIdx ? SAMPLE * 4 : SAMPLE));
  // One scratch buffer for every pairing: a pairing yields at most one difference per key of its first index.
  const diffs = new Float64Array(Math.max(...idx.map((x) => x.mask + 1)));
  const dirIdx = points.findIndex((p) => p.kind === 'director');
  out[refIdx] = { offsetNs: 0, spreadNs: 0, pairs: 0, via: ref.name };
  // Director first, so RS points without common packets with the client can go through it.
  const order = points.map((_, i) => i).sort((a, b) => (a === dirIdx ? -1 : b === dirIdx ? 1 : a - b));
  for (const i of order) {
    if (i === refIdx) continue;
    const p = points[i]!;
    const copies = (q: LoadedPoint): number => (q.kind === 'director' ? 2 : 1);
    let est = estimate(diffs, pairDiffs(idx[refIdx]!, idx[i]!, copies(ref), copies(p), diffs), ref.name);
    // Through the director when it matches more packets: a FullNAT RS shares no packet with the
    // client (both legs rewritten), so any direct pair there is a key collision.
    if (dirIdx >= 0 && dirIdx !== i && dirIdx !== refIdx && out[dirIdx]!.pairs > 0) {
      const viaDir = estimate(diffs, pairDiffs(idx[dirIdx]!, idx[i]!, 2, 1, diffs), points[dirIdx]!.name);
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
