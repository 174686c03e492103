/**
 * Feeder-thread entry of a `verify` run (./feeder.ts): reads and decodes every capture of
 * pass 2 with the judging side's own reading code (verify/feed.ts Feed, with readers that pack
 * what they keep: engine/packing-reader.ts), and posts the merged entries and ticks in batches
 * (engine/record-wire.ts). At each tick it also posts
 * what rules read while they judge: the points' time extents so far and the director answers
 * noted since the previous tick.
 *
 * Flow control: the batches go through a ring of slots in memory both threads share
 * (engine/record-wire.ts WireRing). A slot is filled only against a credit in the shared
 * counter, which the judging thread gives back once it has read the slot, so memory stays
 * bounded however far reading could run ahead of judging. The wait is Atomics.wait: this thread
 * has nothing else to do meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CaptureError } from '../../decode/capture/index.js';
import { DirectorAnswers } from '../engine/director-answers.js';
import type { ReaderSummary } from '../engine/load.js';
import { WHOLE } from '../engine/partition.js';
import { PackingReader } from '../engine/packing-reader.js';
import { RecordPacker, WireRing, WireStrings } from '../engine/record-wire.js';
import { Feed, type FeedPlan, type PointExtent } from '../feed.js';
import { entryKeepForServices } from '../prepare.js';
import type { FeederMessage, FeederTask } from './feeder.js';

const task = workerData as FeederTask;
const credits = new Int32Array(task.credits);

function post(m: FeederMessage, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer);
}

function summary(r: ReaderSummary): ReaderSummary {
  const { file, point, frames, truncated, malformedCount, malformedFrames, malformedWhat, steppedBack } = r;
  return { file, point, frames, truncated, malformedCount, malformedFrames, malformedWhat, steppedBack };
}

async function run(plan: FeedPlan): Promise<void> {
  const extents: PointExtent[] = plan.points.map(() => ({ frames: 0, firstTs: Infinity, lastTs: -Infinity }));
  const flatExtents = (): number[] => extents.flatMap((x) => [x.frames, x.firstTs, x.lastTs]);
  const answers = new DirectorAnswers();
  answers.log = [];
  const strings = new WireStrings();
  const entryKeep = plan.configured ? entryKeepForServices(plan.services) : null;
  const feed = new Feed(plan, extents, answers, { main: true, spec: WHOLE, pool: null }, (file, point, opts) => new PackingReader(file, point, opts, strings, entryKeep));
  // A ring slot is written only once the judging side has handed it back (a credit).
  let waitMs = 0;
  const t0 = performance.now();
  const acquire = (): void => {
    const w0 = performance.now();
    for (;;) {
      const c = Atomics.load(credits, 0);
      if (c > 0) break;
      Atomics.wait(credits, 0, c);
    }
    Atomics.sub(credits, 0, 1);
    waitMs += performance.now() - w0;
  };
  const packer = new RecordPacker(new WireRing(task.ring, task.slots, task.entries), strings, acquire);
  // LVSAUDIT_FEEDER_FAULT (tests): a feeder that fails, or ends without a word, once it has
  // sent a batch must leave the report as it is (the run is redone on one thread).
  const fault = process.env.LVSAUDIT_FEEDER_FAULT;
  const send = (): void => {
    const { batch, transfer } = packer.take();
    post({ batch }, transfer);
    if (fault === 'fail') throw new Error('fault injected (LVSAUDIT_FEEDER_FAULT=fail)');
    if (fault === 'exit') process.exit(3);
  };
  await feed.merge(
    (reader) => {
      reader.takeInto(packer);
      if (packer.full) send();
    },
    (now) => {
      packer.tick({ now, extents: flatExtents(), answers: answers.drain() });
      if (packer.full) send();
    },
  );
  if (packer.size > 0) send();
  post({
    end: {
      busyMs: performance.now() - t0 - waitMs,
      waitedMs: waitMs,
      extents: flatExtents(),
      answers: answers.drain(),
      readers: feed.readers().map(summary),
      warnings: feed.warnings,
      arpReport: feed.arpReport()!,
    },
  });
}

/** Records a rehearsal reads at most. */
const REHEARSAL_RECORDS = 40_000;
const STOP = Symbol('rehearsal over');

/**
 * While the judging thread runs pass 1, this thread reads the start of the captures through
 * the very path pass 2 takes (readers, decoder, observers, packing, merge) and throws it all
 * away: V8 then has that code compiled and optimised when the plan comes. Without it, pass 2's
 * first batches came from cold code while the judging thread, warm from pass 1, waited: 60–90 ms
 * of its 70–150 ms of waiting on the bench set. It stops as soon as the plan comes (`over`).
 * Any error is left for the real reading to meet and report.
 */
async function rehearse(over: () => boolean): Promise<void> {
  const { points, services, toaKinds } = task.rehearsal;
  const plan: FeedPlan = {
    points: points.map((p) => ({ name: p.kind, kind: p.kind, files: p.files, offsetNs: 0 })),
    windowNs: 1e9,
    tickNs: 1e9 / 16,
    ...(toaKinds ? { toaKinds } : {}),
    services,
    configured: services.length > 0,
  };
  const extents = plan.points.map(() => ({ frames: 0, firstTs: Infinity, lastTs: -Infinity }));
  const strings = new WireStrings();
  const entryKeep = plan.configured ? entryKeepForServices(services) : null;
  const feed = new Feed(plan, extents, new DirectorAnswers(), { main: true, spec: WHOLE, pool: null }, (file, point, opts) => new PackingReader(file, point, opts, strings, entryKeep));
  const packer = new RecordPacker(WireRing.create(1, task.entries), strings);
  let n = 0;
  try {
    await feed.merge(
      (reader) => {
        reader.takeInto(packer);
        if (packer.full) packer.take();
        if (++n >= REHEARSAL_RECORDS || over()) throw STOP;
      },
      () => {},
    );
  } catch {
    // STOP, or an error the real reading will report.
  }
}

let plan: FeedPlan | null = null;
const rehearsal = rehearse(() => plan !== null);
parentPort!.once('message', (p: FeedPlan) => {
  plan = p;
  rehearsal
    .then(() => run(p))
    .catch((e: unknown) => {
      const capture = e instanceof CaptureError ? { file: e.file, offset: e.offset, detail: e.detail } : null;
      post({ error: { message: e instanceof Error ? e.message : String(e), capture } });
    });
});
