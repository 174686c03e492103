/**
 * Least connection (§1.10 lc: min overhead, first in list wins ties) and weighted least
 * connection (wlc: min overhead/weight by cross-multiplication, first in list wins ties).
 * overhead = active*256 + inactive.
 */
import { available, overhead, type SchedDest, type SchedOptions, type Scheduler } from './types.js';

export class LeastConnection implements Scheduler {
  readonly name = 'lc';
  constructor(
    private readonly dests: readonly SchedDest[],
    private readonly opts: SchedOptions,
  ) {}

  pick(): SchedDest | null {
    let least: SchedDest | null = null;
    let loh = 0;
    for (const d of this.dests) {
      if (!available(d, this.opts)) continue;
      const doh = overhead(d);
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}

export class WeightedLeastConnection implements Scheduler {
  readonly name = 'wlc';
  constructor(
    private readonly dests: readonly SchedDest[],
    private readonly opts: SchedOptions,
  ) {}

  pick(): SchedDest | null {
    let least: SchedDest | null = null;
    let loh = 0;
    let lw = 0;
    for (const d of this.dests) {
      if (!available(d, this.opts)) continue;
      // The weight-0 fault gives a quiesced server weight 1 so the ratio stays defined.
      const w = d.weight > 0 ? d.weight : 1;
      const doh = overhead(d);
      // IPVS: if (loh * dw > doh * lw) least = d — strict, so the first in the list keeps ties.
      if (least === null || loh * w > doh * lw) {
        least = d;
        loh = doh;
        lw = w;
      }
    }
    return least;
  }
}
