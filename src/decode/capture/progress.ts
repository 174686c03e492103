/**
 * How far the capture readers are, for a progress line (cli/progress.ts). A reader reports once
 * per chunk it loads (never per frame): its input bytes so far (compressed bytes for gzip, so
 * they compare with the file's size) and the frames parsed so far. Nothing is reported, and
 * nothing costs, while no hook is set.
 *
 * Readers in worker threads (verify's feeder and helpers) cannot reach the main thread's hook:
 * when the main thread sets one it names a BroadcastChannel in the environment the workers
 * inherit, and a worker's readers post their reports there.
 */
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

/** One reader's report: `reader` tells readers apart (one per opening of a file). */
export interface ReadProgress {
  reader: string;
  file: string;
  bytes: number;
  frames: number;
  done: boolean;
}

export type ReadProgressHook = (p: ReadProgress) => void;

/** The environment variable that carries the channel's name to worker threads. */
export const PROGRESS_CHANNEL_ENV = 'LVSAUDIT_PROGRESS_CHANNEL';

let hook: ReadProgressHook | null = null;
let readers = 0;

function workerHook(): ReadProgressHook | null {
  const name = process.env[PROGRESS_CHANNEL_ENV];
  if (isMainThread || name === undefined) return null;
  const channel = new BroadcastChannel(name);
  // The channel must not keep a finished worker alive.
  channel.unref();
  return (p) => channel.postMessage(p);
}

hook = workerHook();

/** Sets (or with null removes) the main thread's hook. */
export function setReadProgressHook(h: ReadProgressHook | null): void {
  hook = h;
}

/** The hook in force, or null (then readers skip every progress step). */
export function readProgressHook(): ReadProgressHook | null {
  return hook;
}

/** A name for a newly opened reader, unique across threads. */
export function newReaderId(): string {
  return `${threadId}:${++readers}`;
}
