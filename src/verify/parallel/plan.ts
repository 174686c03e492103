/**
 * Which way pass 2 runs fastest for an input: split by connection over threads (./split.ts),
 * read on a feeder thread while this one judges (./feeder.ts), or read and judged here. Each
 * plan says why, for LVSAUDIT_PARALLEL_DEBUG.
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { busyElsewhere } from '../../decode/parallel/idle.js';
import { threadsFromEnv } from '../../decode/parallel/index.js';
import type { VerifyInput } from '../correlate/prepare.js';
import { anyFullnat } from '../service/model.js';

/** Below this many capture bytes in all, one thread: starting a thread would not pay. */
export const SPLIT_MIN_BYTES = 16 * 1024 * 1024;
/**
 * Fewest free cores for an automatic split. Every thread of a split reads every capture and the
 * main one decodes every frame (ARP, capture checks), so two threads each do much more than
 * half the work: on two cores a split was no faster than one thread once closed connections
 * were judged after the short grace. With three or more the tracking share per thread falls
 * further; a number in LVSAUDIT_THREADS still forces any split.
 */
export const SPLIT_MIN_CORES = 3;

/** What the caller may force, over the environment and the automatic choice. */
export interface SpeedOptions {
  /** Threads to split pass 2 over (default: LVSAUDIT_THREADS, else automatic). */
  threads?: number;
  /** Read pass 2's captures on a feeder thread (default: LVSAUDIT_FEEDER=1|0, else automatic:
   *  a second free core, big captures). */
  feeder?: boolean;
}

export interface Plan {
  why: string;
}

/** The compiled thread entries, next to this module (in dist/, or the bundle's folder). */
export const HELPER_URL = new URL('./verify-worker.js', import.meta.url);
export const FEEDER_URL = new URL('./feeder-worker.js', import.meta.url);

/**
 * How many shares to split the run into, and why not more. LVSAUDIT_THREADS as for
 * `decode --summary` (a number forces it, whatever the size); `threads` overrides both.
 */
export function splitPlan(input: VerifyInput, threads?: number): Plan & { of: number } {
  const env = threadsFromEnv();
  const forced = threads !== undefined || env.forced;
  let of = threads ?? env.threads;
  if (of <= 1) return { of: 1, why: 'one thread asked for' };
  if (input.services !== null && anyFullnat(input.services.services)) {
    return { of: 1, why: 'FullNAT rewrites the client address: its connections cannot be split by client' };
  }
  if (!existsSync(fileURLToPath(HELPER_URL))) return { of: 1, why: 'no compiled helper (verify-worker.js)' };
  const size = captureBytes(input);
  if (typeof size === 'string') return { of: 1, why: size };
  const bytes = size;
  if (!forced) {
    if (bytes < SPLIT_MIN_BYTES) return { of: 1, why: `${bytes} capture bytes, fewer than ${SPLIT_MIN_BYTES}` };
    // Cores taken by other processes would make the threads time-share (decode/parallel/idle.ts).
    const busy = busyElsewhere();
    if (busy !== null) of = Math.min(of, Math.max(1, env.cores - busy));
    if (of < SPLIT_MIN_CORES) return { of: 1, why: `${of} free core(s), fewer than ${SPLIT_MIN_CORES} (two threads measured no faster than one)` };
  }
  return { of, why: forced ? 'forced' : `${bytes} capture bytes` };
}

/**
 * Whether pass 2 reads on a feeder thread, and why (not). LVSAUDIT_FEEDER=1|0 or `feeder`
 * force it either way; LVSAUDIT_THREADS=1 asks for one thread. Automatic: big enough captures
 * (as for the split) and a second core free.
 */
export function feederPlan(input: VerifyInput, feeder?: boolean): Plan & { use: boolean } {
  const env = process.env.LVSAUDIT_FEEDER;
  const forced = feeder ?? (env === '1' ? true : env === '0' ? false : undefined);
  if (forced === false) return { use: false, why: 'feeder thread turned off' };
  if (!existsSync(fileURLToPath(FEEDER_URL))) return { use: false, why: 'no compiled feeder (feeder-worker.js)' };
  const bytes = captureBytes(input);
  if (typeof bytes === 'string') return { use: false, why: bytes };
  if (forced === true) return { use: true, why: 'forced' };
  const threads = threadsFromEnv();
  if (threads.forced && threads.threads <= 1) return { use: false, why: 'one thread asked for' };
  if (bytes < SPLIT_MIN_BYTES) return { use: false, why: `${bytes} capture bytes, fewer than ${SPLIT_MIN_BYTES}` };
  const busy = busyElsewhere();
  const free = threads.cores - (busy ?? 0);
  if (free < 2) return { use: false, why: `${free} free core(s)` };
  return { use: true, why: `${bytes} capture bytes, ${free} free cores` };
}

/** The captures' size in bytes, or why a second thread cannot read them (standard input, a
 *  file that cannot be stat'ed). */
export function captureBytes(input: VerifyInput): number | string {
  let bytes = 0;
  for (const f of input.points.flatMap((p) => p.files)) {
    if (f === '-') return 'standard input can be read once';
    try {
      const st = statSync(f);
      // A FIFO, a pipe from process substitution: its bytes come once, to this thread's reader.
      if (!st.isFile()) return `${f} is not a regular file: it can be read once`;
      bytes += st.size;
    } catch {
      return `${f}: cannot stat (the reader reports it)`;
    }
  }
  return bytes;
}
