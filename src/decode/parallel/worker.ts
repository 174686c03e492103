/**
 * Worker-thread entry of the parallel `decode --summary`: walks the one range it is given
 * (workerData: a RangeTask) and posts the RangeResult back. Imports only ./range.js, whose
 * own graph is the decoder, the summary and the pcap record parser, and the filter compiler
 * when there is a FILTER.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { walkRange, type RangeTask } from './range.js';

const task = workerData as RangeTask;
// The filter compiler is loaded only when there is a FILTER (the main thread compiled the same
// text already, so it cannot fail here).
const match = task.filter !== '' ? (await import('../filter.js')).compileFilter(task.filter) : null;
parentPort?.postMessage(walkRange(task, match));
