/** Round robin (§1.10 rr): next destination after the last pick, in list order, skipping unavailable ones. */
import { available, type SchedDest, type SchedOptions, type Scheduler } from './types.js';

export class RoundRobin implements Scheduler {
  readonly name = 'rr';
  /** Index of the last pick; -1 = the list head (IPVS starts there). */
  private last = -1;
  constructor(
    private readonly dests: readonly SchedDest[],
    private readonly opts: SchedOptions,
  ) {}

  pick(): SchedDest | null {
    const n = this.dests.length;
    for (let step = 1; step <= n; step++) {
      const i = (this.last + step) % n;
      const d = this.dests[i]!;
      if (available(d, this.opts)) {
        this.last = i;
        return d;
      }
    }
    return null;
  }
}
