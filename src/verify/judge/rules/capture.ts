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
import type { RuleId } from '../../model/catalog.js';
import type { ClockEstimate } from '../../correlate/clock.js';
import type { LoadedPoint, ReaderSummary } from '../../read/points.js';
import { needsOf, type RuleNeeds } from './common.js';

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

/** The capture rules by id, in report order. */
export const CAPTURE_RULES = {
  'capture.truncated-file': truncatedFile,
  'capture.malformed': { reader: malformed },
  'capture.clock-offset': { point: clockOffset },
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
