/**
 * One worker thread that posts one result back. Every way it can fail — no thread to be had
 * (resource limits, no compiled entry file), an error, an exit without a result — comes back as
 * `{ ok: false, reason }`, so the caller falls back to doing the work itself. Used by the parallel
 * `decode --summary` (./index.ts) and the split `verify` (src/verify/parallel/index.ts).
 */
import { Worker } from 'node:worker_threads';

export interface ThreadFailure {
  ok: false;
  reason: string;
}

export function runThread<T>(url: URL, workerData: unknown): { result: Promise<T | ThreadFailure>; worker: Worker | null } {
  let worker: Worker;
  try {
    worker = new Worker(url, { workerData });
  } catch (e) {
    return { result: Promise.resolve({ ok: false, reason: `worker: ${e instanceof Error ? e.message : String(e)}` }), worker: null };
  }
  const result = new Promise<T | ThreadFailure>((resolve) => {
    let settled = false;
    const settle = (r: T | ThreadFailure): void => {
      if (!settled) resolve(r);
      settled = true;
    };
    worker.once('message', (r: T) => settle(r));
    worker.once('error', (e: Error) => settle({ ok: false, reason: `worker: ${e.message}` }));
    worker.once('exit', (code) => settle({ ok: false, reason: `worker exited (${code}) without a result` }));
  });
  return { result, worker };
}
