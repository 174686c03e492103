/**
 * Helper-thread entry of a split pass 2 (./split.ts): prepares the input as the main thread
 * does, judges its share and posts the share back with the fingerprint of its pass 1, by which
 * the main thread checks that both threads judged against the same clocks, points and services.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PhaseClock, prepare } from '../correlate/prepare.js';
import { LateCopy } from '../judge/judge.js';
import { canSplit, fingerprint, judgeShare, postable, type HelperResult, type HelperTask } from './split.js';

const task = workerData as HelperTask;
// LVSAUDIT_VERIFY_TIMING: the helper's phases too, with wall-clock stamps to line them up.
const phases = new PhaseClock(
  process.env.LVSAUDIT_VERIFY_TIMING
    ? (phase, ms) => void process.stderr.write(`lvsaudit: verify helper ${task.spec.index}: ${phase}: ${ms.toFixed(0)} ms (at ${Date.now() % 100000})\n`)
    : undefined,
);

// No top-level await: the bundled worker (scripts/bundle.mjs) is a CommonJS file.
async function run(): Promise<{ result: HelperResult; transfer: ArrayBuffer[] }> {
  try {
    phases.mark('start');
    const prep = await prepare(task.input, phases);
    if (!canSplit(prep)) return { result: { ok: false, reason: 'the service cannot be split by client' }, transfer: [] };
    // LVSAUDIT_HELPER_FAULT (tests): a helper that fails, or whose pass 1 disagrees, must
    // leave the report as it is (the main thread runs the share itself).
    const fault = process.env.LVSAUDIT_HELPER_FAULT;
    if (fault === 'fail') throw new Error('fault injected (LVSAUDIT_HELPER_FAULT=fail)');
    const print = fault === 'disagree' ? `${fingerprint(prep)}x` : fingerprint(prep);
    const share = await judgeShare(prep, task.spec);
    phases.mark('pass 2');
    const posted = postable(share);
    return { result: { ok: true, fingerprint: print, share: posted.share }, transfer: posted.transfer };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { result: e instanceof LateCopy ? { ok: false, reason, late: e.answers ? 'answers' : 'record' } : { ok: false, reason }, transfer: [] };
  }
}

void run().then(({ result, transfer }) => parentPort?.postMessage(result, transfer));
