/**
 * Weighted round robin, interleaved (§1.10 wrr): the current weight cw starts at
 * max weight − (gcd − 1); each pass over the list picks every destination whose weight ≥ cw,
 * then cw drops by gcd; at ≤ 0 it starts again at the top. Weights 4,3,2 give A A B A B C A B C.
 */
import type { SchedDest, SchedOptions, Scheduler } from './types.js';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export class WeightedRoundRobin implements Scheduler {
  readonly name = 'wrr';
  /** Position in the list; -1 = head. */
  private cl = -1;
  private cw: number;
  private readonly mw: number;
  private readonly di: number;

  constructor(
    private readonly dests: readonly SchedDest[],
    private readonly opts: SchedOptions,
  ) {
    const w = dests.map((d) => this.weight(d)).filter((x) => x > 0);
    this.di = w.length ? w.reduce(gcd) : 1;
    const max = w.length ? Math.max(...w) : 0;
    this.mw = max === 0 ? 0 : max - (this.di - 1);
    this.cw = this.mw;
  }

  /** The weight that counts; the weight-0 fault schedules a quiesced server as if it had weight 1. */
  private weight(d: SchedDest): number {
    return d.weight === 0 && this.opts.allowWeight0 ? 1 : d.weight;
  }

  pick(): SchedDest | null {
    if (this.mw === 0) return null;
    const n = this.dests.length;
    // At most one full sweep through every cw level.
    for (let guard = 0; guard <= n * (this.mw / this.di + 1); guard++) {
      this.cl++;
      if (this.cl >= n) {
        this.cl = -1;
        this.cw -= this.di;
        if (this.cw <= 0) this.cw = this.mw;
        continue;
      }
      const d = this.dests[this.cl]!;
      if (this.weight(d) >= this.cw && this.weight(d) > 0) return d;
    }
    return null;
  }
}
