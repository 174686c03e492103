/**
 * Source hashing (sh) and destination hashing (dh), §1.10: a 256-bucket table filled in list
 * order (sh: each destination takes `weight` consecutive buckets, a weight-0 one still takes one;
 * dh: one bucket per destination per round), looked up by hash_32 of the source (sh, plus the
 * source port with sh-port) or destination address (dh). A bucket whose destination is
 * unavailable gives no destination unless sh-fallback walks on.
 */
import { available, type SchedDest, type SchedKey, type SchedOptions, type Scheduler } from './types.js';

const TAB_BITS = 8;
const TAB_SIZE = 1 << TAB_BITS;
const GOLDEN_RATIO_32 = 0x61c88647;

/** Linux hash_32(val, bits). */
export function hash32(val: number, bits: number): number {
  return Math.imul(val >>> 0, GOLDEN_RATIO_32) >>> (32 - bits);
}

export class SourceHash implements Scheduler {
  readonly name: string = 'sh';
  protected readonly table: (SchedDest | null)[] = new Array<SchedDest | null>(TAB_SIZE).fill(null);

  constructor(
    protected readonly dests: readonly SchedDest[],
    protected readonly opts: SchedOptions,
  ) {
    this.fill();
  }

  protected fill(): void {
    if (this.dests.length === 0) return;
    let p = 0;
    let count = 0;
    for (let i = 0; i < TAB_SIZE; i++) {
      const d = this.dests[p]!;
      this.table[i] = d;
      if (++count >= d.weight) {
        p = (p + 1) % this.dests.length;
        count = 0;
      }
    }
  }

  protected bucket(key: SchedKey, offset: number): number {
    const port = this.opts.flags?.includes('sh-port') ? key.srcPort : 0;
    return (offset + hash32((port + key.srcIp) >>> 0, TAB_BITS)) & (TAB_SIZE - 1);
  }

  pick(key: SchedKey): SchedDest | null {
    const d = this.table[this.bucket(key, 0)] ?? null;
    if (d && available(d, this.opts)) return d;
    if (!this.opts.flags?.includes('sh-fallback')) return null;
    const ihash = this.bucket(key, 0);
    for (let offset = 0; offset < TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % TAB_SIZE;
      const f = this.table[this.bucket(key, roffset)] ?? null;
      if (f && available(f, this.opts)) return f;
    }
    return null;
  }
}

export class DestinationHash implements Scheduler {
  readonly name = 'dh';
  private readonly table: (SchedDest | null)[] = new Array<SchedDest | null>(TAB_SIZE).fill(null);

  constructor(
    dests: readonly SchedDest[],
    private readonly opts: SchedOptions,
  ) {
    for (let i = 0; i < TAB_SIZE && dests.length; i++) this.table[i] = dests[i % dests.length]!;
  }

  pick(key: SchedKey): SchedDest | null {
    const d = this.table[hash32(key.dstIp, TAB_BITS)] ?? null;
    return d && available(d, this.opts) ? d : null;
  }
}
