/**
 * Pass 2 split over threads by connection (./partition.ts). Each helper thread runs pass 1 on
 * the same input itself (it is deterministic, and doing it twice costs a second core, not time)
 * and pass 2 over its share of the client endpoints (./verify-worker.ts), then posts the share's
 * Judged back; this thread judges share 0 meanwhile and merges them into the one Judged a single
 * pass 2 would have given. A helper whose pass 1 disagrees with this thread's (its fingerprint),
 * or that fails, is replaced by this thread running that share itself, and a run whose shares
 * cannot reproduce one thread's result (unreproducible) is judged again whole here, so the
 * result is always the one of a single thread.
 */
import { runThread, type ThreadFailure } from '../../decode/parallel/thread.js';
import { anyFullnat } from '../service/model.js';
import { prepare, type PhaseClock, type Prepared, type VerifyInput } from '../correlate/prepare.js';
import { FindingSink } from '../judge/sink.js';
import { judgeCaptures, LateCopy, type Judged, type JudgedService, type PassTwo, type PassTwoResult, type RunFacts } from '../judge/judge.js';
import { packConnections, unpackConnections, type PackedConnections } from './conn-transfer.js';
import { shareSelection, type ShareSpec } from './partition.js';
import { HELPER_URL } from './plan.js';

/** What a helper is given (workerData): the input without its functions. */
export interface HelperTask {
  input: VerifyInput;
  spec: ShareSpec;
}

/** A share as a helper posts it: the connection summaries packed (./conn-transfer.ts). */
export interface PostedShare extends Omit<Judged, 'services'> {
  services: (Omit<JudgedService, 'all'> & { all: PackedConnections })[];
}

/** `late`: the share stopped with LateCopy, for an answer or a record (the whole run is judged
 *  again with the full grace). */
export type HelperResult = { ok: true; fingerprint: string; share: PostedShare } | (ThreadFailure & { late?: 'answers' | 'record' });

/** A share ready to post, and the buffers to move with it. */
export function postable(share: Judged): { share: PostedShare; transfer: ArrayBuffer[] } {
  const services = share.services.map((e) => ({ ...e, all: packConnections(e.all) }));
  return { share: { ...share, services }, transfer: services.map((e) => e.all.nums.buffer as ArrayBuffer) };
}

/** A posted share as this thread merges it. */
function received(share: PostedShare): Judged {
  return { ...share, services: share.services.map((e) => ({ ...e, all: unpackConnections(e.all) })) };
}

/** Whether pass 2 may be split by client endpoint: not for FullNAT, which rewrites the client
 *  address, and not without a service to name the client end. */
export function canSplit(p: Prepared): boolean {
  return p.services.length > 0 && !anyFullnat(p.services);
}

/** What two runs of `prepare` on one input must agree on for their shares to fit together. */
export function fingerprint(p: Prepared): string {
  return JSON.stringify({
    clocks: p.clocks.map((c) => [c.offsetNs, c.pairs]),
    points: p.points.map((x) => [x.name, x.rsIp, x.kind, x.files]),
    services: p.services,
    inferred: p.inferred,
  });
}

/** Pass 2 over share `spec` of a prepared run, without the run's facts (share 0 gathers them). */
export async function judgeShare(prep: Prepared, spec: ShareSpec): Promise<Judged> {
  return (await judgeCaptures(prep, { runFacts: false, selection: shareSelection(prep.services, spec) })).judged;
}

interface Helper {
  spec: ShareSpec;
  result: Promise<HelperResult>;
  stop(): Promise<void>;
}

/** Starts helpers for shares 1..of-1 of `input` (functions in it are not sent). */
function startHelpers(input: VerifyInput, of: number): Helper[] {
  const { onPhase: _phase, onNote: _note, ...sendable } = input;
  void _phase;
  void _note;
  const out: Helper[] = [];
  for (let index = 1; index < of; index++) {
    const spec = { index, of };
    const { result, worker } = runThread<HelperResult>(HELPER_URL, { input: sendable, spec } satisfies HelperTask);
    out.push({
      spec,
      result,
      stop: async () => {
        await worker?.terminate();
      },
    });
  }
  return out;
}

/**
 * Shares judged apart as one: the findings absorbed in share order, the connections listed in
 * share order (the assembly sorts them), the counters added. The peaks are added too: shares
 * peak at different moments, so their sum bounds the peak of a single thread.
 */
function merge(facts: RunFacts, prep: Prepared, shares: readonly Judged[]): Judged {
  return {
    services: facts.engines.map((e, i) => {
      const sink = new FindingSink(e.ctx, prep.ignore);
      const parts = shares.map((s) => s.services[i]!);
      for (const p of parts) sink.absorb(p.sink);
      return {
        sink: sink.exportState(),
        all: parts.flatMap((p) => p.all),
        correlated: parts.reduce((n, p) => n + p.correlated, 0),
        maxActive: parts.reduce((n, p) => n + p.maxActive, 0),
        maxHeld: parts.reduce((n, p) => n + p.maxHeld, 0),
      };
    }),
    ladders: shares.flatMap((s) => s.ladders),
    clientAtServiceEnd: shares.some((s) => s.clientAtServiceEnd),
  };
}

/** What a split run cannot reproduce, found out while it ran (null: nothing). */
function unreproducible(facts: RunFacts, shares: readonly Judged[]): string | null {
  // The order a stepped-back file's records merge in depends on which a thread keeps.
  const stepped = facts.readers.find((r) => r.steppedBack);
  if (stepped) return `timestamps in ${stepped.file} step back by more than the window`;
  if (shares.some((s) => s.clientAtServiceEnd)) return 'a client of the VIP sends from a service address or port (ConnectionTracker.clientAtServiceEnd)';
  return null;
}

/** Pass 2 split in `of` shares. The helpers start at once: their start (and their own pass 1)
 *  overlaps pass 1 here. */
export class SplitPassTwo implements PassTwo {
  private helpers: Helper[];
  /** The input the running helpers prepared. */
  private helpersFor: VerifyInput;

  constructor(
    input: VerifyInput,
    private readonly of: number,
    private readonly why: string,
    private readonly note: (line: string) => void,
  ) {
    this.helpers = startHelpers(input, of);
    this.helpersFor = input;
  }

  async run(prep: Prepared, phases: PhaseClock): Promise<PassTwoResult> {
    if (!canSplit(prep)) {
      this.note('pass 2 on one thread: the service cannot be split by client');
      await this.stopHelpers();
      const whole = await judgeCaptures(prep);
      phases.mark('pass 2: every capture correlated and judged');
      return { prep, ...whole };
    }
    // Run again (the full grace): helpers for this input.
    if (this.helpersFor !== prep.input) {
      await this.stopHelpers();
      this.helpers = startHelpers(prep.input, this.of);
      this.helpersFor = prep.input;
    }
    this.note(`pass 2 split in ${this.of} shares (${this.why})`);
    try {
      // Before pass 2, which consumes the points' samples.
      const print = fingerprint(prep);
      const mine = await judgeCaptures(prep, { selection: shareSelection(prep.services, { index: 0, of: this.of }) });
      phases.mark(`pass 2: share 1 of ${this.of} correlated and judged`);
      const shares = [mine.judged, ...(await this.helperShares(prep.input, print))];
      phases.mark('pass 2: the other shares');
      const redo = unreproducible(mine.facts, shares);
      if (redo === null) return { prep, judged: merge(mine.facts, prep, shares), facts: mine.facts };
      this.note(`pass 2 run again on one thread: ${redo}`);
      // Pass 1 again: pass 2 consumed the points' samples.
      const again = await prepare(prep.input);
      const whole = await judgeCaptures(again);
      phases.mark('pass 2: again on one thread');
      return { prep: again, ...whole };
    } finally {
      await this.stopHelpers();
    }
  }

  /** Shares 1.. from the helpers; a helper that failed or disagrees is run here instead. */
  private async helperShares(input: VerifyInput, print: string): Promise<Judged[]> {
    const out: Judged[] = [];
    for (const h of this.helpers) {
      const r = await h.result;
      if (r.ok && r.fingerprint === print) {
        out.push(received(r.share));
        continue;
      }
      if (!r.ok && r.late !== undefined) throw new LateCopy(r.late === 'answers');
      this.note(`share ${h.spec.index} of ${h.spec.of} run on the main thread: ${r.ok ? 'its first pass disagreed' : r.reason}`);
      // Pass 1 again: share 0 consumed the points' samples.
      out.push(await judgeShare(await prepare(input), h.spec));
    }
    return out;
  }

  private async stopHelpers(): Promise<void> {
    const helpers = this.helpers;
    this.helpers = [];
    await Promise.all(helpers.map((h) => h.stop()));
  }

  close(): Promise<void> {
    return this.stopHelpers();
  }
}
