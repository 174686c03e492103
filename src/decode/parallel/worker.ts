/**
 * Worker-thread entry of the parallel `decode --summary`: walks the one range it is given
 * (workerData: a RangeTask for classic pcap or a PcapngRangeTask) and posts the RangeResult
 * back. Loads only the walker of that format (./range.js or ./pcapng-range.js, whose graphs
 * are the decoder, the summary and the record parser), and the filter compiler when there is
 * a FILTER.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { RangeTask } from './range.js';
import type { PcapngRangeTask } from './pcapng-range.js';

const task = workerData as RangeTask | PcapngRangeTask;

// No top-level await: the bundled worker (scripts/bundle.mjs) is a CommonJS file.
async function run(): Promise<void> {
  // The filter compiler is loaded only when there is a FILTER (the main thread compiled the same
  // text already, so it cannot fail here).
  const match = task.filter !== '' ? (await import('../filter.js')).compileFilter(task.filter) : null;
  // Only the walker of the task's format is loaded.
  parentPort?.postMessage(
    task.kind === 'pcapng' ? (await import('./pcapng-range.js')).walkPcapngRange(task, match) : (await import('./range.js')).walkRange(task, match),
  );
}

void run();
