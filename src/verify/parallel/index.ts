/**
 * The speed machinery of `verify`, behind one door. `passTwoFor(input)` decides how pass 2 of
 * that input runs fastest — split by client endpoint over helper threads (./split.ts), read on
 * a feeder thread while this one judges (./feeder.ts), or read and judged here (judge/judge.ts
 * judgeHere) — and gives verify() that PassTwo:
 *
 *   const result = await verify(input, passTwoFor(input));
 *
 * Threads start here, at once, so that their start-up overlaps pass 1. Whatever is chosen, the
 * result is the one of verify(input) alone: a thread that fails or disagrees falls back to
 * judging here (each module says how), and the tests compare the reports (split-equivalence,
 * feeder). Nothing below this folder knows threads exist: pass 2 offers the extension points
 * the machinery uses (judge/judge.ts OpenSource and PassTwo, read/feed.ts RecordSelection,
 * judge/sink.ts exportState/absorb).
 *
 * LVSAUDIT_PARALLEL_DEBUG (through VerifyInput.onNote) says which way was taken and why.
 */
import type { VerifyInput } from '../correlate/prepare.js';
import { judgeHere, type PassTwo } from '../judge/judge.js';
import { Feeder, FedPassTwo } from './feeder.js';
import { feederPlan, splitPlan, type SpeedOptions } from './plan.js';
import { SplitPassTwo } from './split.js';

export type { SpeedOptions } from './plan.js';

/** The fastest PassTwo for `input` that this process can have; `ask` forces a way. */
export function passTwoFor(input: VerifyInput, ask: SpeedOptions = {}): PassTwo {
  const note = input.onNote ?? ((): void => {});
  const split = splitPlan(input, ask.threads);
  if (split.of > 1) return new SplitPassTwo(input, split.of, split.why, note);
  note(`pass 2 on one thread: ${split.why}`);
  const feed = feederPlan(input, ask.feeder);
  if (feed.use) return new FedPassTwo(Feeder.start(), feed.why, note);
  note(`pass 2 reads on the main thread: ${feed.why}`);
  return judgeHere;
}
