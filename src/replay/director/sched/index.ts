/** Scheduler factory: the mainline schedulers the reference director implements (§1.10). */
import { InputError } from '../../../errors.js';
import { DestinationHash, SourceHash } from './hash.js';
import { LeastConnection, WeightedLeastConnection } from './lc.js';
import { RoundRobin } from './rr.js';
import type { SchedDest, SchedOptions, Scheduler } from './types.js';
import { WeightedRoundRobin } from './wrr.js';

export * from './types.js';
export { RoundRobin } from './rr.js';
export { WeightedRoundRobin } from './wrr.js';
export { LeastConnection, WeightedLeastConnection } from './lc.js';
export { SourceHash, DestinationHash, hash32 } from './hash.js';

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh'] as const;

export function makeScheduler(name: string, dests: readonly SchedDest[], opts: SchedOptions = {}): Scheduler {
  switch (name) {
    case 'rr':
      return new RoundRobin(dests, opts);
    case 'wrr':
      return new WeightedRoundRobin(dests, opts);
    case 'lc':
      return new LeastConnection(dests, opts);
    case 'wlc':
      return new WeightedLeastConnection(dests, opts);
    case 'sh':
      return new SourceHash(dests, opts);
    case 'dh':
      return new DestinationHash(dests, opts);
    default:
      throw new InputError(`reference director: scheduler "${name}" is not implemented (have: ${SCHEDULERS.join(', ')})`);
  }
}
