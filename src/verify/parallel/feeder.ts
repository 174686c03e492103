/**
 * Pass 2 as a pipeline over two threads: a feeder thread reads, decodes and merges the captures
 * (./feeder-worker.ts, running read/feed.ts) while this thread judges (judge/judge.ts). The two
 * halves cost about the same, and unlike the split by connection (./split.ts), where every
 * thread reads every capture, no work is done twice: the price is packing each record
 * (./record-wire.ts) and reading it back.
 *
 * The judging side sees exactly what it would see reading itself: the same records and ticks in
 * the same order, and at each tick the points' time extents and the director answers as they
 * stood at that tick of the feeder's merge (the same merge). The report is therefore the same;
 * test/verify/feeder.test.ts compares them on every committed capture set.
 *
 * The feeder starts before pass 1 (its start-up overlaps it) and is sent the plan after. If it
 * cannot start, or fails other than on a capture error, pass 2 is done on this thread
 * (FeederFailed, FedPassTwo); a capture error is the run's error, as on one thread.
 */
import { Worker } from 'node:worker_threads';
import type { CaptureWarning } from '../../decode/capture/index.js';
import { CaptureError } from '../../decode/capture/index.js';
import type { ArpReport } from '../arp/types.js';
import type { AnswerNote, DirectorAnswers } from '../read/director-answers.js';
import type { ReaderSummary } from '../read/points.js';
import type { RecordPool } from '../read/record.js';
import type { PacketRecord } from '../model/record.js';
import { RecordUnpacker, WireRing, type RecordBatch } from './record-wire.js';
import { captureList, type FeedPlan, type PointExtent, type RecordSource } from '../read/feed.js';
import { prepare, type PhaseClock, type Prepared } from '../correlate/prepare.js';
import { judgeCaptures, type PassTwo, type PassTwoResult } from '../judge/judge.js';
import { FEEDER_URL } from './plan.js';

/** Records (and ticks) per batch, and batches in the ring (12 MiB of 32-slot entries): the
 *  feeder may run that far ahead. Each side has slower moments (the feeder's first batches,
 *  bursts of judgement on this side); a ring of a few dozen batches made both sides wait for
 *  the other, with 96 the feeder hardly waits. */
const FEEDER_BATCH = 1024;
const FEEDER_SLOTS = 96;

/** The ring's batch count: FEEDER_SLOTS, or LVSAUDIT_FEEDER_SLOTS (tests: a small ring wraps,
 *  and the feeder waits for slots, on a small capture set). */
function ringSlots(): number {
  const n = Number(process.env.LVSAUDIT_FEEDER_SLOTS);
  return Number.isInteger(n) && n >= 1 ? n : FEEDER_SLOTS;
}

/** What the feeder is started with (workerData). */
export interface FeederTask {
  /** One int32: the ring slots the feeder may still fill. */
  credits: SharedArrayBuffer;
  /** The WireRing's memory, and its shape. */
  ring: SharedArrayBuffer;
  slots: number;
  entries: number;
}

export interface FeederEnd {
  /** The feeder's time reading, and waiting for a free slot (LVSAUDIT_PARALLEL_DEBUG). */
  busyMs: number;
  waitedMs: number;
  extents: number[];
  answers: AnswerNote[];
  readers: ReaderSummary[];
  warnings: CaptureWarning[];
  arpReport: ArpReport;
}

export type FeederMessage =
  | { batch: RecordBatch }
  | { end: FeederEnd }
  | { error: { message: string; capture: { file: string; offset: number; detail: string } | null } };

/** The feeder could not do its part (other than a capture error): redo the run on one thread. */
export class FeederFailed extends Error {}

/** A started feeder thread, waiting for its plan. */
export class Feeder {
  private readonly credits = new Int32Array(new SharedArrayBuffer(4));
  readonly ring = WireRing.create(ringSlots(), FEEDER_BATCH);
  private readonly worker: Worker;
  private readonly inbox: FeederMessage[] = [];
  private waiting: ((m: FeederMessage) => void) | null = null;
  private failed = false;
  private stopped = false;
  /** How the pipeline went, once a source has run (LVSAUDIT_PARALLEL_DEBUG). */
  report = '';

  /** Starts the thread (null when no thread can be had). */
  static start(): Feeder | null {
    try {
      return new Feeder();
    } catch {
      return null;
    }
  }

  private constructor() {
    Atomics.store(this.credits, 0, this.ring.slots);
    const task: FeederTask = { credits: this.credits.buffer as SharedArrayBuffer, ring: this.ring.buffer, slots: this.ring.slots, entries: this.ring.entries };
    this.worker = new Worker(FEEDER_URL, { workerData: task });
    this.worker.on('message', (m: FeederMessage) => this.deliver(m));
    this.worker.on('error', (e: Error) => this.fail(`feeder thread: ${e.message}`));
    this.worker.on('exit', (code) => this.fail(`feeder thread exited (${code})`));
  }

  private deliver(m: FeederMessage): void {
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      w(m);
    } else this.inbox.push(m);
  }

  /** An error event, or an exit (after its last message, if it had ended normally). */
  private fail(reason: string): void {
    if (this.stopped || this.failed) return;
    this.failed = true;
    this.deliver({ error: { message: reason, capture: null } });
  }

  /** The next message; an exit or error of the thread comes as an error message. */
  next(): Promise<FeederMessage> | FeederMessage {
    const m = this.inbox.shift();
    if (m !== undefined) return m;
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** One batch read: the feeder may fill its slot again. */
  credit(): void {
    Atomics.add(this.credits, 0, 1);
    Atomics.notify(this.credits, 0);
  }

  /** The record source of a pass 2 judged on this thread, fed by the feeder; sends the plan. */
  open(plan: FeedPlan, extents: readonly PointExtent[], answers: DirectorAnswers, pool: RecordPool | null): RecordSource {
    this.worker.postMessage(plan);
    return new FedSource(this, plan, extents, answers, pool);
  }

  /** Ends the thread. Not waited for: its teardown runs beside the rest of the run, and the
   *  process still waits for it before exiting. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // Wake it if it waits for a credit, so that terminate does not wait on a blocked thread.
    Atomics.store(this.credits, 0, 1 << 30);
    Atomics.notify(this.credits, 0);
    void this.worker.terminate();
  }
}

/** Records as the feeder posts them. */
class FedSource implements RecordSource {
  private readonly unpacker: RecordUnpacker;
  private summaries: ReaderSummary[] = [];
  readonly warnings: CaptureWarning[] = [];
  private arp: ArpReport | null = null;

  constructor(
    private readonly feeder: Feeder,
    private readonly plan: FeedPlan,
    private readonly extents: readonly PointExtent[],
    private readonly answers: DirectorAnswers,
    private readonly pool: RecordPool | null,
  ) {
    this.unpacker = new RecordUnpacker(
      feeder.ring,
      plan.points.map((p) => p.offsetNs),
      captureList(plan),
    );
  }

  /** The points' extents as the feeder had them (frames, first, last per point, then each
   *  file's first and last for a point of several files). */
  private setExtents(flat: readonly number[]): void {
    let k = 0;
    this.extents.forEach((x, i) => {
      x.frames = flat[k++]!;
      x.firstTs = flat[k++]!;
      x.lastTs = flat[k++]!;
      const n = 2 * this.plan.points[i]!.files.length;
      if (n < 4) return;
      const spans = (x.fileSpans ??= new Float64Array(n));
      for (let j = 0; j < n; j++) spans[j] = flat[k++]!;
    });
  }

  async run(onRecord: (r: PacketRecord) => void, onTick: (now: number) => void): Promise<void> {
    const u = this.unpacker;
    const pool = this.pool;
    let waited = 0;
    let firstWait = 0;
    let wait50 = 0;
    let batches = 0;
    for (;;) {
      const w0 = performance.now();
      const m = await this.feeder.next();
      waited += performance.now() - w0;
      if ('error' in m) {
        const c = m.error.capture;
        if (c) throw new CaptureError(c.file, c.offset, c.detail);
        throw new FeederFailed(m.error.message);
      }
      if ('end' in m) {
        const e = m.end;
        this.setExtents(e.extents);
        this.answers.replay(e.answers);
        this.summaries = e.readers;
        this.warnings.push(...e.warnings);
        this.arp = e.arpReport;
        this.feeder.report = `${batches} batches; the feeder read for ${e.busyMs.toFixed(0)} ms and waited ${e.waitedMs.toFixed(0)} ms for a free slot, this thread waited ${waited.toFixed(0)} ms for records${batches > 0 ? ` (${firstWait.toFixed(0)} ms for the first batch${batches >= 50 ? `, ${wait50.toFixed(0)} ms by the 50th` : ''})` : ''}`;
        return;
      }
      batches++;
      if (batches === 1) firstWait = waited;
      if (batches === 50) wait50 = waited;
      u.load(m.batch);
      const n = m.batch.count;
      for (let i = 0; i < n; i++) {
        const tick = u.tickAt(i);
        if (tick === null) {
          onRecord(u.record(i, pool?.take()));
          continue;
        }
        this.setExtents(tick.extents);
        this.answers.replay(tick.answers);
        onTick(tick.now);
      }
      this.feeder.credit();
    }
  }

  readers(): ReaderSummary[] {
    return this.summaries;
  }

  arpReport(): ArpReport | null {
    return this.arp;
  }

  close(): Promise<void> {
    this.feeder.stop();
    return Promise.resolve();
  }
}

/** Pass 2 read on a feeder thread and judged here; here alone once the feeder has failed. */
export class FedPassTwo implements PassTwo {
  private failed = false;

  constructor(
    /** Started before pass 1; a second pass 2 (the full grace) starts another. */
    private feeder: Feeder | null,
    private readonly why: string,
    private readonly note: (line: string) => void,
  ) {}

  async run(prep: Prepared, phases: PhaseClock): Promise<PassTwoResult> {
    const feeder = this.failed ? null : (this.feeder ?? Feeder.start());
    this.feeder = null;
    if (feeder === null) {
      this.note(`pass 2 reads on the main thread: ${this.failed ? 'the feeder thread failed' : 'no thread could be started'}`);
      return this.here(prep, phases);
    }
    this.note(`pass 2 reads on a feeder thread (${this.why})`);
    try {
      const r = await judgeCaptures(prep, { openSource: (plan, answers, pool) => feeder.open(plan, prep.points, answers, pool) });
      phases.mark('pass 2: every capture correlated and judged');
      this.note(`feeder thread: ${feeder.report}`);
      return { prep, ...r };
    } catch (e) {
      if (!(e instanceof FeederFailed)) throw e;
      this.failed = true;
      this.note(`pass 1 and 2 run again without a feeder thread: ${e.message}`);
      phases.mark('pass 2, stopped: the feeder thread failed');
      // Pass 1 again: pass 2 consumed the points' samples.
      return this.here(await prepare(prep.input, phases), phases);
    } finally {
      feeder.stop();
    }
  }

  private async here(prep: Prepared, phases: PhaseClock): Promise<PassTwoResult> {
    const r = await judgeCaptures(prep);
    phases.mark('pass 2: every capture correlated and judged');
    return { prep, ...r };
  }

  close(): Promise<void> {
    this.feeder?.stop();
    this.feeder = null;
    return Promise.resolve();
  }
}
