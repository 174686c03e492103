/**
 * What judging connections teaches about the captures themselves: where the capturing host's
 * offloads show (partial checksums, super-segments), where a capture missed packets that the
 * flow proves were delivered, and where a snaplen cut the bytes a rule needs
 * (../shared/spec/capture-artifacts.md). The connection rules note these instead of reporting
 * them as faults; the capture rules (judge/rules/capture.ts) report one finding per point.
 *
 * Plain data, merged in an order that does not depend on how the connections were shared out
 * (a split run's shares merge their notes): counts add up, the largest packet is the largest,
 * and the evidence kept is the earliest in capture order (point, file name, frame).
 */
import type { PacketRef } from './record.js';

/** Evidence kept per note and point: enough to open the first few in Wireshark. */
export const NOTE_EVIDENCE = 6;

export interface PointNote {
  count: number;
  /** The largest size seen (super-segments: IP payload bytes), 0 when not relevant. */
  largest: number;
  /** The earliest packets in capture order (point, file name, frame). */
  evidence: PacketRef[];
}

export type NoteKind = 'partial-checksum' | 'super-segment' | 'gap' | 'snaplen';

/** Notes by kind, then by point index. */
export type CaptureNotes = Partial<Record<NoteKind, Record<number, PointNote>>>;

/** Point, then file name, then frame: the order does not depend on the folders the files are
 *  read from (the same capture given as a file or through a FIFO elsewhere lists alike); the
 *  full path only separates two files of one name. */
function earlier(a: PacketRef, b: PacketRef): number {
  if (a.point !== b.point) return a.point - b.point;
  if (a.capture === b.capture) return a.frame - b.frame;
  const an = baseName(a.capture);
  const bn = baseName(b.capture);
  if (an !== bn) return an < bn ? -1 : 1;
  return a.capture < b.capture ? -1 : 1;
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1);
}

function keep(evidence: PacketRef[], r: PacketRef): void {
  if (evidence.some((e) => e.capture === r.capture && e.frame === r.frame)) return;
  let i = evidence.length;
  while (i > 0 && earlier(evidence[i - 1]!, r) > 0) i--;
  if (i >= NOTE_EVIDENCE) return;
  evidence.splice(i, 0, { point: r.point, capture: r.capture, frame: r.frame, role: r.role });
  if (evidence.length > NOTE_EVIDENCE) evidence.pop();
}

/** Adds one packet to a note of `notes`, at point `point` (for a gap: the point that missed
 *  the packet, `r` being its copy at another point). */
export function addNote(notes: CaptureNotes, kind: NoteKind, r: PacketRef, size = 0, point = r.point): void {
  const byPoint = (notes[kind] ??= {});
  const n = (byPoint[point] ??= { count: 0, largest: 0, evidence: [] });
  n.count++;
  if (size > n.largest) n.largest = size;
  keep(n.evidence, r);
}

/** Folds `from` into `into` (another share's notes). */
export function mergeNotes(into: CaptureNotes, from: CaptureNotes): void {
  for (const kind of Object.keys(from) as NoteKind[]) {
    const src = from[kind]!;
    const dst = (into[kind] ??= {});
    for (const [point, n] of Object.entries(src)) {
      const d = (dst[Number(point)] ??= { count: 0, largest: 0, evidence: [] });
      d.count += n.count;
      if (n.largest > d.largest) d.largest = n.largest;
      for (const e of n.evidence) keep(d.evidence, e);
    }
  }
}
