/**
 * A `verify` run split over threads by connection (engine/partition.ts). Each helper thread
 * runs pass 1 on the same input itself (it is deterministic, and doing it twice costs a second
 * core, not time) and pass 2 over its share of the connections, then posts the share's
 * findings and connection summaries back; the main thread judges its own share meanwhile, and
 * merges (verify.ts). A helper whose pass 1 disagrees with the main thread's (its fingerprint),
 * or that fails, is replaced by the main thread running that share itself, so the result is
 * always the one of a single thread.
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { busyElsewhere } from '../../decode/parallel/idle.js';
import { threadsFromEnv } from '../../decode/parallel/index.js';
import { runThread, type ThreadFailure } from '../../decode/parallel/thread.js';
import { packConnections, unpackConnections, type PackedConnections } from './conn-transfer.js';
import type { ShareSpec } from './partition.js';
import type { VerifyInput } from '../correlate/prepare.js';
import { anyFullnat } from '../service/model.js';
import type { EngineShare, ShareResult } from '../judge/judge.js';

/** Below this many capture bytes in all, one thread: a helper's start (~50 ms) would not pay. */
export const SPLIT_MIN_BYTES = 16 * 1024 * 1024;
/**
 * Fewest free cores for an automatic split. Every thread reads every capture and the main one
 * decodes every frame (ARP, capture checks), so two threads do much more than half the work
 * each; on this project's 2-core machine two threads ran the bench set in 1.20–1.25 s against
 * 1.15–1.17 s on one, once closed connections were judged after a short grace (they had gained
 * 0–20 % before). With three or more cores the tracking share per thread falls further; a number
 * in LVSAUDIT_THREADS still forces any split.
 */
export const SPLIT_MIN_CORES = 3;

/** What a helper is given (workerData). */
export interface HelperTask {
  input: VerifyInput;
  spec: ShareSpec;
}

/** A share as a helper posts it: the connection summaries packed (engine/conn-transfer.ts). */
export interface PostedShare extends Omit<ShareResult, 'engines'> {
  engines: (Omit<EngineShare, 'all'> & { all: PackedConnections })[];
}

/** `late`: the share stopped with share.ts LateCopy, for an answer or a record (the whole run
 *  is judged again). */
export type HelperResult = { ok: true; fingerprint: string; share: PostedShare } | (ThreadFailure & { late?: 'answers' | 'record' });

/** A share ready to post, and the buffers to move with it. */
export function postable(share: ShareResult): { share: PostedShare; transfer: ArrayBuffer[] } {
  const engines = share.engines.map((e) => ({ ...e, all: packConnections(e.all) }));
  return { share: { ...share, engines }, transfer: engines.map((e) => e.all.nums.buffer as ArrayBuffer) };
}

/** A posted share as the main thread merges it. */
export function received(share: PostedShare): ShareResult {
  return { ...share, engines: share.engines.map((e) => ({ ...e, all: unpackConnections(e.all) })) };
}

export interface Helper {
  spec: ShareSpec;
  result: Promise<HelperResult>;
  stop(): Promise<void>;
}

const WORKER_URL = new URL('./verify-worker.js', import.meta.url);

/**
 * How many shares to split the run into, and why not more. LVSAUDIT_THREADS as for
 * `decode --summary` (a number forces it, whatever the size); `input.threads` overrides both.
 */
export function splitPlan(input: VerifyInput): { of: number; why: string } {
  const env = threadsFromEnv();
  const forced = input.threads !== undefined || env.forced;
  let of = input.threads ?? env.threads;
  if (of <= 1) return { of: 1, why: 'one thread asked for' };
  if (input.services !== null && anyFullnat(input.services.services)) {
    return { of: 1, why: 'FullNAT rewrites the client address: its connections cannot be split by client' };
  }
  if (!existsSync(fileURLToPath(WORKER_URL))) return { of: 1, why: 'no compiled helper (verify-worker.js)' };
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

/** The captures' size in bytes, or why a second thread cannot read them (standard input, a
 *  file that cannot be stat'ed): the split and the feeder (./feeder.ts) both ask. */
export function captureBytes(input: VerifyInput): number | string {
  let bytes = 0;
  for (const f of input.points.flatMap((p) => p.files)) {
    if (f === '-') return 'standard input can be read once';
    try {
      bytes += statSync(f).size;
    } catch {
      return `${f}: cannot stat (the reader reports it)`;
    }
  }
  return bytes;
}

/** Starts helpers for shares 1..of-1 of `input` (functions in it are not sent). */
export function startHelpers(input: VerifyInput, of: number): Helper[] {
  const { onPhase: _drop, ...sendable } = input;
  void _drop;
  const out: Helper[] = [];
  for (let index = 1; index < of; index++) {
    const spec = { index, of };
    const { result, worker } = runThread<HelperResult>(WORKER_URL, { input: sendable, spec } satisfies HelperTask);
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
