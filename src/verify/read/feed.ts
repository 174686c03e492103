/**
 * The reading side of pass 2: every capture read side by side in corrected time
 * (read/stream.ts), with what must see every frame — frame counts and time extent per point,
 * the ARP analysis, the director's ICMP answers and fragments — and the records merged, with
 * the ticks on which connections are judged, into the judging side (judge/judge.ts).
 *
 * The judging side pulls from a RecordSource. LocalFeed reads here; any other source must give
 * the same records, ticks, extents and answers in the same order (verify/parallel runs this same
 * Feed elsewhere and replays it).
 */
import type { CaptureWarning } from '../../decode/capture/index.js';
import type { Frame } from '../../decode/frame.js';
import type { DecapOptions, Packet } from '../../decode/packet.js';
import { ArpAnalyzer } from '../arp/index.js';
import type { ArpReport } from '../arp/types.js';
import type { DirectorAnswers } from './director-answers.js';
import type { PointKindName, ReaderSummary } from './points.js';
import type { RecordPool } from './record.js';
import type { PacketRecord } from '../model/record.js';
import { mergeQueues, PointReader, type ReaderOptions } from './stream.js';
import { keepForServices } from './keep.js';
import { anyFullnat, type Service } from '../service/model.js';

/** What pass 2's reading needs from pass 1, as plain data (structured-clone safe). */
export interface FeedPlan {
  points: { name: string; kind: PointKindName; files: string[]; offsetNs: number }[];
  windowNs: number;
  /** Sweeps of the merge (ConnectionTracker.sweep) fall on this grid of corrected time. */
  tickNs: number;
  toaKinds?: number[];
  guePorts?: number[];
  /** Mirror/overlay transports looked through (decode/decap.ts; null: none). */
  decap: DecapOptions | null;
  services: Service[];
  /** Keep only the services' records (a configured run; read/keep.ts keepForServices). */
  configured: boolean;
}

/** The run's capture files in plan order: a packed record names its file by its index here
 *  (./record.ts), wherever the entry is read back. */
export function captureList(plan: FeedPlan): string[] {
  return plan.points.flatMap((p) => p.files);
}

/** What every frame of a point updates (LoadedPoint has them): rules read the time extent
 *  while pass 2 runs (judge/rules/common.ts insideCapture, flow.not-forwarded). */
export interface PointExtent {
  frames: number;
  firstTs: number;
  lastTs: number;
  /** A point captured in several files (one per interface, or ring-buffer parts): each file's
   *  first and last frame time, [first0, last0, first1, last1, …]; absent for one file. */
  fileSpans?: Float64Array;
}

/** Each file's span of a point of `files` files, before any frame (null for one file). */
export function emptyFileSpans(files: number): Float64Array | null {
  if (files < 2) return null;
  const s = new Float64Array(2 * files);
  for (let j = 0; j < files; j++) {
    s[2 * j] = Infinity;
    s[2 * j + 1] = -Infinity;
  }
  return s;
}

/** Where pass 2's records come from. */
export interface RecordSource {
  /** Streams every record and tick in merge order; rejects with the first read error. */
  run(onRecord: (r: PacketRecord) => void, onTick: (now: number) => void): Promise<void>;
  /** Once run has ended: each capture file's reading, the capture warnings, the ARP report
   *  (null when this source did no ARP analysis: FeedOptions.runFacts false). */
  readers(): ReaderSummary[];
  readonly warnings: CaptureWarning[];
  arpReport(): ArpReport | null;
  /** Stops (also after a failure or a stop of the judging side). */
  close(): Promise<void>;
}

/**
 * Which records a pass 2 takes when it judges only some client endpoints (null: all). Every
 * frame is still counted and observed; a packet `takes` refuses is not extracted.
 */
export interface RecordSelection {
  readonly takes: (p: Packet) => boolean;
  /** Whether a raw frame is certainly not taken, so it need not be decoded at all: asked only
   *  when nothing else needs every frame decoded (FeedOptions.runFacts false). */
  readonly passesOver: (f: Frame) => boolean;
}

export interface FeedOptions {
  /** Gather what a run gathers once: the ARP analysis and the capture warnings. Their reading
   *  decodes every frame. */
  runFacts: boolean;
  selection: RecordSelection | null;
  pool: RecordPool | null;
}

/**
 * The captures read side by side, by readers of kind R (made by `makeReader`): the merge takes
 * each reader's head as a record (LocalFeed), or a reader kind of verify/parallel takes it as it
 * is queued, packed.
 */
export class Feed<R extends PointReader> {
  private readonly list: R[] = [];
  readonly warnings: CaptureWarning[] = [];
  private readonly arp: ArpAnalyzer | null;

  constructor(
    private readonly plan: FeedPlan,
    extents: readonly PointExtent[],
    answers: DirectorAnswers,
    opts: FeedOptions,
    makeReader: (file: string, point: number, opts: ReaderOptions) => R,
  ) {
    const { services } = plan;
    const runFacts = opts.runFacts;
    const vipList = services.filter((s) => s.vip).map((s) => s.vip);
    const ripList = services.flatMap((s) => s.realServers.map((r) => r.ip));
    const arp = runFacts ? new ArpAnalyzer({ vips: vipList, realServers: ripList, directorPoint: 'director' }) : null;
    this.arp = arp;
    const keep = plan.configured ? keepForServices(services) : undefined;
    const toa = { ...(plan.toaKinds ? { toaKinds: plan.toaKinds } : {}), ...(plan.guePorts ? { guePorts: plan.guePorts } : {}), decap: plan.decap };
    const withOptions = anyFullnat(services);
    const share = opts.selection?.takes ?? null;
    // Frames no record is taken from go undecoded unless the run's facts need every frame.
    const skip = runFacts ? null : (opts.selection?.passesOver ?? null);
    const pool = opts.pool;
    const captures = captureList(plan);
    const warnings = this.warnings;
    plan.points.forEach((p, i) => {
      const atDirector = p.kind !== 'rs';
      // A real server's ICMP error reaches its own capture and the director's on that leg.
      const onRsLeg = p.kind !== 'client';
      const x = extents[i]!;
      // Every reading keeps each point's time extent (rules ask whether a time lies inside a
      // capture) and the director's ICMP answers and fragments; ARP only with runFacts.
      // (Pass 1 also gathers ARP sender bindings per point; the contexts pass 2 judges with are
      // built from those before it starts, so pass 2 does not gather them again.)
      const observeTime = (ts: number): void => {
        x.frames++;
        if (ts < x.firstTs) x.firstTs = ts;
        if (ts > x.lastTs) x.lastTs = ts;
      };
      const observe = (pkt: Packet): void => {
        // observeTime's work written out: a float argument to a call V8 does not inline is
        // boxed, a heap number per frame.
        const ts = pkt.tsSec * 1e9 + pkt.tsNsec;
        x.frames++;
        if (ts < x.firstTs) x.firstTs = ts;
        if (ts > x.lastTs) x.lastTs = ts;
        if (arp) arp.observe(pkt, p.name);
        if (atDirector) answers.observe(pkt);
        if (onRsLeg) answers.observeRefusal(pkt, i);
      };
      // Several files: each one's span too (flow.not-forwarded asks whether every file of the
      // director was running when a packet came).
      const spans = emptyFileSpans(p.files.length);
      if (spans === null) delete x.fileSpans;
      else x.fileSpans = spans;
      p.files.forEach((file, j) => {
        const observeFile =
          spans === null
            ? observe
            : (pkt: Packet): void => {
                const ts = pkt.tsSec * 1e9 + pkt.tsNsec;
                if (ts < spans[2 * j]!) spans[2 * j] = ts;
                if (ts > spans[2 * j + 1]!) spans[2 * j + 1] = ts;
                observe(pkt);
              };
        const observeFileSkipped =
          spans === null
            ? observeTime
            : (ts: number): void => {
                if (ts < spans[2 * j]!) spans[2 * j] = ts;
                if (ts > spans[2 * j + 1]!) spans[2 * j + 1] = ts;
                observeTime(ts);
              };
        this.list.push(
          makeReader(file, i, {
            ...toa,
            ...(keep ? { keep } : {}),
            offsetNs: p.offsetNs,
            captures,
            maxStepBackNs: plan.windowNs,
            tcpOptions: withOptions,
            ...(pool ? { pool } : {}),
            ...(share ? { share } : {}),
            ...(skip ? { skip, observeSkipped: observeFileSkipped } : {}),
            ...(runFacts ? { onWarning: (w: CaptureWarning) => warnings.push(w) } : {}),
            observe: observeFile,
          }),
        );
      });
    });
  }

  /** Merges the readers' queues: `take` takes the head item of the reader it is given. */
  async merge(take: (reader: R) => void, onTick: (now: number) => void): Promise<void> {
    try {
      await mergeQueues(this.list, take, onTick, this.plan.tickNs);
    } finally {
      // A capture that fails to read ends the run: the other files are closed, not left to GC.
      await this.close();
    }
  }

  readers(): ReaderSummary[] {
    return this.list;
  }

  arpReport(): ArpReport | null {
    return this.arp ? this.arp.finish() : null;
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((r) => r.close()));
  }
}

/** The captures read here, into records: the RecordSource of a run read where it is judged. */
export class LocalFeed extends Feed<PointReader> implements RecordSource {
  constructor(plan: FeedPlan, extents: readonly PointExtent[], answers: DirectorAnswers, opts: FeedOptions) {
    super(plan, extents, answers, opts, (file, point, o) => new PointReader(file, point, o));
  }

  run(onRecord: (r: PacketRecord) => void, onTick: (now: number) => void): Promise<void> {
    return this.merge((reader) => onRecord(reader.shift()!), onTick);
  }
}
