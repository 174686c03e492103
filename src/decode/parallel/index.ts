/**
 * Parallel `decode --summary` over one classic pcap or pcapng file: the file is cut into K
 * byte ranges, the main thread walks the first, worker threads the others (./range.ts for
 * pcap, ./pcapng-range.ts for pcapng), and the counts are merged — or, when anything does not
 * check out, thrown away so the caller runs the ordinary serial reader. The answer is
 * therefore always the serial one.
 *
 * Why the merge equals a single pass. Range 0 starts at the true first record (right after
 * the file header) and walks the true record chain, as the serial reader does; it decodes
 * the records starting before E0 and stops at the first true boundary at or after E0. Range
 * k ≥ 1 only guesses its start (a plausibility scan from Sk = E(k-1)); its result is accepted
 * only if that guess equals the offset where range k-1 stopped. By induction range k-1's
 * stop is a true record boundary — the first at or after Sk — so an accepted range k starts
 * on the true chain and, walking it with the same record parser, decodes exactly the true
 * records in [start k, E k). Every record is then counted once, in file order; the merge
 * appends new protocol nodes and problem keys in first-seen order, as a single pass would.
 * A guess that lands on a fake header inside a payload cannot equal a true boundary, so it
 * is caught; so is a scan that skips the first true boundary. A range with no record start
 * in it claims the end of the file as its start, which checks out only if the previous walk
 * reached the end of the file (where the one cut-record warning can arise); anything else the serial reader would
 * report (timestamp fraction out of range, oversized record, a read error) sends the whole
 * file down the serial path, which reports it as always.
 *
 * pcapng adds state: a packet block is read through its section's byte order and the
 * interfaces declared before it. Only files whose blocks before the first packet block (at
 * P, found by the main thread from the file's first MiB) are one SHB and non-packet blocks
 * are split; range 0 starts at the SHB (offset 0) and parses that prefix itself, every
 * other range parses a copy of the same prefix bytes first, and all split points lie after
 * P. Every range refuses when it meets an SHB or an IDB at or after P. The induction then
 * carries one more fact: all blocks in [P, stop k-1) were walked by ranges 0..k-1 and none
 * was an SHB or IDB, so the state in force at the true boundary start k (> P) is the one the
 * prefix leaves — the state range k was built with — and range k's blocks parse exactly as
 * in a single pass. The chain starts at 0 in both walks, so "the true chain" is the same
 * notion; any warning the serial reader would print, other than the cut last block, sends
 * the file down the serial path as for pcap.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { CaptureWarning } from '../capture/errors.js';
import type { DecodeOptions } from '../packet.js';
import type { DecodeSummary } from '../summary.js';
import { compileFilter } from '../filter.js';
import { PCAPNG_SHB } from '../capture/pcapng.js';
import { busyElsewhere } from './idle.js';
import { runThread } from './thread.js';
import { PCAP_FILE_HEADER, pcapLayout, walkRange, type PcapLayout, type RangeResult, type RangeTask } from './range.js';
import { MAX_PREFIX, pcapngPrefix, walkPcapngRange, type PcapngLayout, type PcapngRangeTask } from './pcapng-range.js';

/** Files smaller than this are read serially: a worker's start-up would not pay off. */
export const DEFAULT_MIN_BYTES = 32 * 1024 * 1024;
/** More ranges than this gain little: reading from the page cache starts to dominate. */
export const MAX_AUTO_THREADS = 4;
const CHUNK = 1024 * 1024;
/**
 * Extra bytes for range 0: the main thread starts decoding at once while a worker first starts
 * and loads its modules. The main thread is also slower per byte than a worker during that
 * time (its own cold JIT plus the worker's start-up on the other core), so the balance point is
 * small: a few MiB cover the worker's start. Capped at a quarter of the file.
 */
const LEAD_BYTES = 4 * 1024 * 1024;

export interface ParallelOptions {
  decode?: Partial<DecodeOptions>;
  /** FILTER text: only matching packets are counted (the caller has compiled it once already). */
  filter?: string;
  /** Receives the capture warnings (only a cut last record can arise), after the merge. */
  onWarning?: (w: CaptureWarning) => void;
  /** Number of ranges; 1 or less = do not split. Default: threadsFromEnv(). */
  threads?: number;
  /** Smallest file split (default DEFAULT_MIN_BYTES; 0 with an explicit `threads` from the env). */
  minBytes?: number;
  /** Explicit start offsets of ranges 1..K-1 (tests); overrides the even split. */
  splits?: readonly number[];
  chunkSize?: number;
  /** Where a one-line account of the attempt goes (LVSAUDIT_PARALLEL_DEBUG). */
  debug?: (line: string) => void;
}

export interface ParallelOutcome {
  /** True: `into` now holds the counts of the whole file; false: `into` is untouched, run the serial path. */
  parallel: boolean;
  /** Ranges attempted (0 when the file was not eligible). */
  ranges: number;
  /** Why the ranges were discarded, or why the file was not split; null when merged. */
  reason: string | null;
}

/**
 * Thread count from LVSAUDIT_THREADS: unset/empty/"auto" → min(cores, 4) with the size
 * threshold (and, at the time of the split, only the cores other processes leave free);
 * "1" → serial; N ≥ 2 → N ranges whatever the size, the cores and their load (forced).
 */
export function threadsFromEnv(env: NodeJS.ProcessEnv = process.env): { threads: number; forced: boolean; cores: number } {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const raw = (env.LVSAUDIT_THREADS ?? '').trim();
  if (raw !== '' && raw !== 'auto' && /^\d+$/.test(raw)) return { threads: Math.max(1, Math.min(64, Number(raw))), forced: true, cores };
  return { threads: Math.min(cores, MAX_AUTO_THREADS), forced: false, cores };
}

/** Smallest file split, from LVSAUDIT_PARALLEL_MIN_BYTES when set. */
function minBytesFromEnv(forced: boolean, env: NodeJS.ProcessEnv = process.env): number {
  const raw = (env.LVSAUDIT_PARALLEL_MIN_BYTES ?? '').trim();
  if (/^\d+$/.test(raw)) return Number(raw);
  return forced ? 0 : DEFAULT_MIN_BYTES;
}

/** Range start offsets 1..K-1: equal shares of the body (from `base`, the first record) after giving range 0 its lead. */
export function evenSplits(fileSize: number, k: number, base = PCAP_FILE_HEADER): number[] {
  const body = fileSize - base;
  const lead = Math.min(LEAD_BYTES, Math.floor(body / 4));
  const share = (body - lead) / k;
  const out: number[] = [];
  for (let i = 1; i < k; i++) out.push(base + lead + Math.floor(i * share));
  return out;
}

type Eligible =
  | { kind: 'pcap'; size: number; header: Buffer; layout: PcapLayout }
  | { kind: 'pcapng'; size: number; prefix: Buffer; layout: PcapngLayout };

function eligible(file: string, minBytes: number): Eligible | string {
  if (file === '-') return 'standard input';
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return 'cannot open (the serial reader reports it)';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not a regular file';
    if (st.size < minBytes) return `smaller than ${minBytes} bytes`;
    // A pcapng file's whole prefix (up to its first packet block) is read; of a pcap file the
    // file header and the first record header.
    const peek = Buffer.alloc(4);
    const isNg = readSync(fd, peek, 0, 4, 0) === 4 && peek.readUInt32BE(0) === PCAPNG_SHB;
    const head = Buffer.alloc(Math.min(st.size, isNg ? MAX_PREFIX + 16 : PCAP_FILE_HEADER + 16));
    let got = 0;
    while (got < head.length) {
      const r = readSync(fd, head, got, head.length - got, got);
      if (r === 0) break;
      got += r;
    }
    const ng = pcapngPrefix(head.subarray(0, got), st.size);
    if (typeof ng !== 'string') return { kind: 'pcapng', size: st.size, prefix: head.subarray(0, ng.firstPacket), layout: ng };
    if (ng !== 'not pcapng') return ng;
    const layout = pcapLayout(head.subarray(0, Math.min(got, PCAP_FILE_HEADER + 16)));
    if (layout === null) return 'not a plain classic pcap or pcapng file (gzip, odd header or snaplen)';
    return { kind: 'pcap', size: st.size, header: head.subarray(0, PCAP_FILE_HEADER), layout };
  } finally {
    closeSync(fd);
  }
}

function runWorker(task: RangeTask | PcapngRangeTask): { result: Promise<RangeResult>; worker: Worker | null } {
  // A range that could not run is a failed range: the serial path will do.
  return runThread<RangeResult>(new URL('./worker.js', import.meta.url), task);
}

/**
 * Tries the parallel summary of `file` into `into` (see the module comment). On `parallel:
 * false` nothing was counted and no warning was delivered: the caller runs the serial path.
 */
export async function summarizeParallel(file: string, into: DecodeSummary, opts: ParallelOptions = {}): Promise<ParallelOutcome> {
  const env = threadsFromEnv();
  const threads = opts.threads ?? env.threads;
  const minBytes = opts.minBytes ?? minBytesFromEnv(opts.threads !== undefined || env.forced);
  const timing: string[] = [];
  const say = (o: ParallelOutcome): ParallelOutcome => {
    const when = timing.length > 0 ? ` [${timing.join(', ')}]` : '';
    opts.debug?.(`lvsaudit: parallel: ${file}: ${o.parallel ? `${o.ranges} ranges merged` : `serial (${o.reason})`}${when}`);
    return o;
  };
  if (threads < 2 && opts.splits === undefined) return say({ parallel: false, ranges: 0, reason: 'one thread' });
  const e = eligible(file, minBytes);
  if (typeof e === 'string') return say({ parallel: false, ranges: 0, reason: e });
  let k = threads;
  if (opts.threads === undefined && !env.forced && opts.splits === undefined) {
    // Automatic count: only the cores other processes leave free (see ./idle.ts).
    const busy = busyElsewhere();
    if (busy !== null) k = Math.min(threads, env.cores - busy);
    if (k < 2) return say({ parallel: false, ranges: 0, reason: `${busy} runnable threads of other processes on ${env.cores} cores` });
  }
  // pcap: range 0 starts right after the file header, the others in the records after it.
  // pcapng: range 0 starts at the SHB and parses the prefix itself; the others start after
  // the first packet block's offset, where the prefix state is in force (./pcapng-range.ts).
  const base = e.kind === 'pcap' ? PCAP_FILE_HEADER : e.layout.firstPacket;
  const raw = opts.splits ?? evenSplits(e.size, k, base);
  // Starts must lie in the body and increase; duplicates would make empty ranges.
  const starts = [...new Set(raw.filter((s) => s > base && s < e.size))].sort((a, b) => a - b);
  if (starts.length === 0) return say({ parallel: false, ranges: 0, reason: 'file too small to split' });
  const first0 = e.kind === 'pcap' ? PCAP_FILE_HEADER : 0;
  const bounds = [first0, ...starts];
  const common = (i: number): Omit<RangeTask, 'header' | 'layout' | 'kind'> => ({
    file,
    from: bounds[i]!,
    known: i === 0,
    end: i + 1 < bounds.length ? bounds[i + 1]! : Infinity,
    decode: opts.decode ?? {},
    filter: opts.filter?.trim() ?? '',
    chunkSize: opts.chunkSize ?? CHUNK,
  });
  const task = (i: number): RangeTask | PcapngRangeTask =>
    e.kind === 'pcap'
      ? { kind: 'pcap', header: e.header, layout: e.layout, ...common(i) }
      : { kind: 'pcapng', prefix: e.prefix, layout: e.layout, ...common(i) };
  // Workers first, so they start while the main thread walks range 0.
  const t0 = performance.timeOrigin + performance.now();
  const workers = bounds.slice(1).map((_, j) => runWorker(task(j + 1)));
  const match = opts.filter?.trim() ? compileFilter(opts.filter) : null;
  const t = task(0);
  const first = t.kind === 'pcapng' ? walkPcapngRange(t, match) : walkRange(t, match);
  if (!first.ok) {
    await Promise.all(workers.map((w) => w.worker?.terminate()));
    return say({ parallel: false, ranges: bounds.length, reason: `range 0: ${first.reason}` });
  }
  const results: RangeResult[] = [first, ...(await Promise.all(workers.map((w) => w.result)))];
  for (const [i, r] of results.entries()) if (r.ok) timing.push(`range ${i}: ${(r.began - t0).toFixed(0)}–${(r.finished - t0).toFixed(0)} ms`);
  const reason = verify(results, first0);
  if (reason !== null) return say({ parallel: false, ranges: bounds.length, reason });
  for (const r of results) if (r.ok) into.mergeCounts(r.counts);
  // Only the range whose walk met the end of the file can hold the cut-record warning; the
  // ranges after it (if any) are empty and start at the end of the file.
  for (const r of results) if (r.ok && r.warning !== null) opts.onWarning?.(r.warning);
  return say({ parallel: true, ranges: bounds.length, reason: null });
}

/** null when the ranges chain exactly (see the module comment), else what broke. */
function verify(results: readonly RangeResult[], first0: number): string | null {
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (!r.ok) return `range ${i}: ${r.reason}`;
    if (i === 0 && r.start !== first0) return `range 0 did not start at offset ${first0}`;
    if (i === results.length - 1 && !r.eof) return `range ${i} did not reach the end of the file`;
    if (i > 0) {
      const prev = results[i - 1]!;
      if (prev.ok && prev.stop !== r.start) return `range ${i} started at offset ${r.start}, but range ${i - 1} stopped at ${prev.stop}`;
    }
  }
  return null;
}
