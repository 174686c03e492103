/**
 * Worker-thread entry of the parallel `decode --summary`: walks the one range it is given
 * (workerData: a RangeTask) and posts the RangeResult back. Imports only ./range.js, whose
 * own graph is the decoder, the summary and the pcap record parser.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { walkRange, type RangeTask } from './range.js';

parentPort?.postMessage(walkRange(workerData as RangeTask));
