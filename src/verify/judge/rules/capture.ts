/**
 * The `capture.*` rules (rules.md "Capture and decode"): findings about the captures themselves
 * — a file cut inside a record, malformed headers, each point's clock against the reference —
 * reported instead of aborting the run. They read how pass 2's readers went and pass 1's clock
 * estimates, not connections, and need no particular point.
 *
 * One function per rule id, in a table keyed by that id; one walk over the readers' warnings,
 * the readers and the points calls them in table order (the order the report lists them in).
 */
import type { CaptureWarning } from '../../../decode/capture/index.js';
import type { Finding } from '../../model/findings.js';
import type { ClockOffset } from '../../model/result.js';
import { ruleSpec, type RuleId } from '../../model/catalog.js';
import type { ClockEstimate } from '../../correlate/clock.js';
import type { LoadedPoint, ReaderSummary } from '../../read/points.js';
import { needsOf, type RuleNeeds } from './common.js';
import type { CaptureNotes, NoteKind, PointNote } from '../../model/capture-notes.js';

/** What the capture rules read: the main share's readers and warnings, and pass 1's clocks. */
export interface CaptureFacts {
  readers: readonly ReaderSummary[];
  points: readonly LoadedPoint[];
  warnings: readonly CaptureWarning[];
  clocks: readonly ClockEstimate[];
  /** The reference point's index: its clock is the one the others are measured against. */
  refIdx: number;
  /** Rule ids the user asked to leave out (--ignore). */
  ignore: ReadonlySet<string>;
  /** What judging the connections noted about the captures (every service's, merged). */
  notes: CaptureNotes;
}

export interface CaptureJudgement {
  /** In report order: truncated files and malformed headers, then the clock offsets. */
  findings: Finding<RuleId>[];
  /** Every point's measured offset (the result's clockOffsets), whether or not reported. */
  clockOffsets: ClockOffset[];
}

/** The walk's state: the facts, what was found so far, and the files a warning covered. */
interface CaptureView {
  facts: CaptureFacts;
  out: CaptureJudgement;
  /** Files a reader warning already reported as cut (not reported again from the reader). */
  warned: Set<string>;
}

/** What one capture rule does at each step of the walk (each step optional). */
export interface CaptureSteps {
  /** At each warning a capture reader raised. */
  warning?(v: CaptureView, w: CaptureWarning): void;
  /** At each capture file's reader. */
  reader?(v: CaptureView, rd: ReaderSummary): void;
  /** At each capture point, by index. */
  point?(v: CaptureView, i: number): void;
}

/** capture.truncated-file: a file ends inside a record (everything before it is analysed). */
const truncatedFile: CaptureSteps = {
  warning({ facts, out, warned }, w) {
    warned.add(w.file);
    const rd = facts.readers.find((r) => r.file === w.file);
    out.findings.push({
      rule: 'capture.truncated-file',
      severity: 'warning',
      message: `${w.file}: ${w.message} (byte ${w.offset}); everything before it is analysed`,
      hint: 'the capture was cut while being written (tcpdump killed, disk full); re-capture or accept the loss',
      evidence: [{ capture: w.file, frame: rd?.frames ?? 0, point: rd ? facts.points[rd.point]!.name : '' }],
    });
  },
  reader({ facts, out, warned }, rd) {
    if (!rd.truncated || warned.has(rd.file)) return;
    out.findings.push({
      rule: 'capture.truncated-file',
      severity: 'warning',
      message: `${rd.file}: the file ends inside a record; everything before it is analysed`,
      hint: 'the capture was cut while being written; re-capture or accept the loss',
      evidence: [{ capture: rd.file, frame: rd.frames, point: facts.points[rd.point]!.name }],
    });
  },
};

/** capture.malformed: packets of a file with a malformed header (kept with what decoded). */
function malformed({ facts, out }: CaptureView, rd: ReaderSummary): void {
  if (rd.malformedCount === 0) return;
  const name = facts.points[rd.point]!.name;
  out.findings.push({
    rule: 'capture.malformed',
    severity: 'warning',
    message: `${rd.file}: ${rd.malformedCount} packet(s) with a malformed header (first: ${rd.malformedWhat})`,
    hint: 'the packets are kept with what decoded; check the capture link type and snap length',
    evidence: rd.malformedFrames.map((frame) => ({ capture: rd.file, frame, point: name })),
  });
}

/** capture.clock-offset: each point's clock against the reference (info: the correction made). */
function clockOffset({ facts, out }: CaptureView, i: number): void {
  const { points, clocks, refIdx, ignore } = facts;
  if (i === refIdx) return;
  const p = points[i]!;
  const c = clocks[i]!;
  const offsetMs = c.offsetNs / 1e6;
  out.clockOffsets.push({ point: p.name, offsetMs, spreadMs: c.spreadNs / 1e6, pairs: c.pairs, against: c.via });
  if (ignore.has('capture.clock-offset')) return;
  out.findings.push({
    rule: 'capture.clock-offset',
    severity: 'info',
    message:
      c.pairs > 0
        ? `${p.name} clock is ${offsetMs >= 0 ? '+' : ''}${offsetMs.toFixed(3)} ms against ${c.via} (spread ${(c.spreadNs / 1e6).toFixed(3)} ms over ${c.pairs} matched packets)`
        : `${p.name} shares no packet with the other captures: its clock offset is unknown (assumed 0)`,
    hint: c.pairs > 0 ? 'informational: timestamps of this capture are corrected by this offset before matching' : 'check that this capture covers the same time and traffic',
    evidence: p.files[0] ? [{ capture: p.files[0], frame: 1, point: p.name }] : [],
  });
}

/** A capture rule reported from the connection judges' notes: one finding per point. */
function fromNotes(rule: RuleId, kind: NoteKind, say: (point: string, n: PointNote) => { message: string; hint: string }): CaptureSteps {
  return {
    point({ facts, out }, i) {
      const n = facts.notes[kind]?.[i];
      if (n === undefined || n.count === 0 || facts.ignore.has(rule)) return;
      const name = facts.points[i]!.name;
      out.findings.push({
        rule,
        severity: ruleSpec(rule).severity,
        ...say(name, n),
        evidence: n.evidence.map((e) => ({ capture: e.capture, frame: e.frame, point: facts.points[e.point]!.name })),
      });
    },
  };
}

const frames = (n: PointNote): string => n.evidence.map((e) => e.frame).join(', ');
const files = (n: PointNote): string => n.evidence.map((e) => `${e.capture.replace(/^.*\//, '')}#${e.frame}`).join(', ');

/** capture.checksum-offload: TCP/UDP checksums left partial by TX offload (capture-artifacts.md §1). */
const checksumOffload = fromNotes('capture.checksum-offload', 'partial-checksum', (point, n) => ({
  message: `${point}: ${n.count} packet(s) carry the partial pseudo-header checksum that TX checksum offload leaves for the NIC (first frames ${frames(n)}); their checksums are judged where they are final`,
  hint: 'nothing to fix: the capture tap sees packets before the NIC finishes the checksum (ethtool -K IFACE tx off shows final ones)',
}));

/** capture.segmentation-offload: super-segments at a point (capture-artifacts.md §2). */
const segmentationOffload = fromNotes('capture.segmentation-offload', 'super-segment', (point, n) => ({
  message: `${point}: ${n.count} packet(s) larger than one segment on the wire, the largest ${n.largest} bytes (first frames ${frames(n)}): TSO/GSO before segmentation or GRO after merging; paired with the other points by sequence range, their size and checksum not judged`,
  hint: 'nothing to fix: ethtool -K IFACE tso off gso off gro off makes the capture show wire-size segments',
}));

const GAP_HINT = 'tcpdump reports "packets dropped by kernel" when its buffer overflows: capture with a larger buffer (-B 32768), a filter, or -s 128';

/** capture.gaps: packets a capture missed while the flow shows they were delivered, and the
 *  drops the capture's own pcapng statistics report (§3). */
const gapsFromFlow = fromNotes('capture.gaps', 'gap', (point, n) => ({
  message: `${point}: the capture missed ${n.count} packet(s) that the flow shows were delivered (later packets of the connection got there and the sender never sent them again, or the peer took their acknowledgement); no flow finding is made from their absence (seen elsewhere as ${files(n)})`,
  hint: GAP_HINT,
}));

const gaps: CaptureSteps = {
  point(v, i) {
    gapsFromFlow.point!(v, i);
    const { facts, out } = v;
    if (facts.ignore.has('capture.gaps')) return;
    for (const rd of facts.readers) {
      if (rd.point !== i || rd.drops === null || rd.drops === 0) continue;
      const name = facts.points[i]!.name;
      out.findings.push({
        rule: 'capture.gaps',
        severity: ruleSpec('capture.gaps').severity,
        message: `${rd.file}: the capture's interface statistics report ${rd.drops} packet(s) dropped before they were written (isb_ifdrop + isb_osdrop)`,
        hint: GAP_HINT,
        evidence: [{ capture: rd.file, frame: rd.frames, point: name }],
      });
    }
  },
};

/** capture.snaplen: packets whose bytes past the snap length a rule needed (§3). */
const snaplenCut = fromNotes('capture.snaplen', 'snaplen', (point, n) => ({
  message: `${point}: ${n.count} packet(s) cut by the snap length before the end of their payload (first frames ${frames(n)}): payload comparison and L4 checksum not evaluated for them`,
  hint: 'capture with a larger snap length (tcpdump -s 0) to have them judged',
}));

/** The capture rules by id, in report order. */
export const CAPTURE_RULES = {
  'capture.truncated-file': truncatedFile,
  'capture.malformed': { reader: malformed },
  'capture.clock-offset': { point: clockOffset },
  'capture.checksum-offload': checksumOffload,
  'capture.segmentation-offload': segmentationOffload,
  'capture.gaps': gaps,
  'capture.snaplen': snaplenCut,
} as const satisfies { readonly [K in RuleId]?: CaptureSteps };

/** A capture rule as registered: its id, its points (the catalog's: none) and its steps. */
export interface CaptureRule extends CaptureSteps {
  readonly id: RuleId;
  readonly needs: RuleNeeds;
}

export const CAPTURE: readonly CaptureRule[] = (Object.keys(CAPTURE_RULES) as (keyof typeof CAPTURE_RULES)[]).map((id) => ({
  id,
  needs: needsOf(id),
  ...CAPTURE_RULES[id],
}));

/**
 * The capture findings of a run and the clock offsets. --ignore leaves out
 * capture.clock-offset here; truncated-file and malformed findings are not filtered by it.
 */
export function judgeCaptures(facts: CaptureFacts): CaptureJudgement {
  const v: CaptureView = { facts, out: { findings: [], clockOffsets: [] }, warned: new Set() };
  for (const w of facts.warnings) for (const r of CAPTURE) r.warning?.(v, w);
  for (const rd of facts.readers) for (const r of CAPTURE) r.reader?.(v, rd);
  for (let i = 0; i < facts.points.length; i++) for (const r of CAPTURE) r.point?.(v, i);
  return v.out;
}
