/**
 * Feeder-thread entry of a `verify` run (./feeder.ts): reads and decodes every capture of
 * pass 2 with the judging side's own reading code (read/feed.ts Feed, with readers that pack
 * what they keep: ./packing-reader.ts), and posts the merged entries and ticks in batches
 * (./record-wire.ts). At each tick it also posts what rules read while they judge: the
 * points' time extents so far and the director answers noted since the previous tick.
 *
 * Flow control: the batches go through a ring of slots in memory both threads share
 * (./record-wire.ts WireRing). A slot is filled only against a credit in the shared
 * counter, which the judging thread gives back once it has read the slot, so memory stays
 * bounded however far reading could run ahead of judging. The wait is Atomics.wait: this thread
 * has nothing else to do meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CaptureError } from '../../decode/capture/index.js';
import { DirectorAnswers } from '../read/director-answers.js';
import type { ReaderSummary } from '../read/points.js';
import { PackingReader } from './packing-reader.js';
import { RecordPacker, WireRing } from './record-wire.js';
import { Feed, type FeedPlan, type PointExtent } from '../read/feed.js';
import type { FeederMessage, FeederTask } from './feeder.js';

const task = workerData as FeederTask;
const credits = new Int32Array(task.credits);

function post(m: FeederMessage, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer);
}

function summary(r: ReaderSummary): ReaderSummary {
  const { file, point, frames, truncated, drops, malformedCount, malformedFrames, malformedWhat, steppedBack, mirrored, mirrorWhat } = r;
  return { file, point, frames, truncated, drops, malformedCount, malformedFrames, malformedWhat, steppedBack, mirrored, mirrorWhat };
}

async function run(plan: FeedPlan): Promise<void> {
  const extents: PointExtent[] = plan.points.map(() => ({ frames: 0, firstTs: Infinity, lastTs: -Infinity }));
  // Per point: frames, first, last, then each file's first and last when it has several.
  const flatExtents = (): number[] => extents.flatMap((x) => [x.frames, x.firstTs, x.lastTs, ...(x.fileSpans ?? [])]);
  const answers = new DirectorAnswers();
  answers.log = [];
  const feed = new Feed(plan, extents, answers, { runFacts: true, selection: null, pool: null }, (file, point, opts) => new PackingReader(file, point, opts));
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
  const packer = new RecordPacker(new WireRing(task.ring, task.slots, task.entries), acquire);
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

// Nothing is done before the plan comes. Reading the start of the captures meanwhile, to have
// the code compiled when pass 2 starts, would take the second core from pass 1 on the main
// thread for no gain in pass 2.
parentPort!.once('message', (plan: FeedPlan) => {
  run(plan).catch((e: unknown) => {
    const capture = e instanceof CaptureError ? { file: e.file, offset: e.offset, detail: e.detail } : null;
    post({ error: { message: e instanceof Error ? e.message : String(e), capture } });
  });
});
