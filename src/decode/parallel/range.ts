/**
 * One byte range of a classic pcap file, read and summarised on its own: the unit of work of
 * the parallel `decode --summary` (see ./index.ts for the split and the proof of why the
 * merged result equals a single pass).
 *
 * A range [from, end) is walked record by record from its first record boundary — known for
 * the first range (right after the file header), guessed by a strict plausibility scan for
 * the others — and every record whose header starts before `end` is decoded, the one that
 * straddles `end` included. The walk stops at the first record starting at or after `end` and
 * reports that offset, so the caller can check that the ranges chain exactly.
 *
 * The walk reuses the serial reader's own code: its file-header parse (pcapFromHeader), its
 * record loop (PcapFormat.parseRun), its record sizes and its cut-record warning, so a record
 * is cut, timed and delivered exactly as in a single pass; only the reading of the bytes (a
 * byte range, synchronously, on a worker thread) is this module's own. Anything the serial reader would
 * treat specially inside the range (an out-of-range timestamp fraction: a warning; a length
 * beyond the limit: a fatal error) makes the range answer `ok: false`, and the caller then
 * runs the ordinary serial reader, which reports it as always. The one exception is a record
 * cut by the end of the file, which produces the serial reader's warning word for word.
 *
 * This module is loaded by worker threads: it imports only the decoder, the summary and the
 * pcap record parser (no CLI or printers; the filter compiler only when a FILTER is given),
 * which keeps a worker's start-up short.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PCAP_FILE_HEADER, PCAP_RECORD_HEADER, pcapFromHeader, type PcapFormat } from '../capture/pcap.js';
import { DEFAULT_MAX_SNAPLEN, ReadContext } from '../capture/types.js';
import { CaptureError, cutRecordMessage, type CaptureWarning } from '../capture/errors.js';
import type { Frame } from '../frame.js';
import { Decoder } from '../decoder.js';
import type { DecodeOptions, Packet } from '../packet.js';
import { DecodeSummary, type SummaryCounts } from '../summary.js';

export { PCAP_FILE_HEADER };
const RECORD_HEADER = PCAP_RECORD_HEADER;
/** Records a plausible boundary must be followed by (each plausible) unless the file ends first. */
const CHAIN = 8;
/** A record's timestamp must lie within this many seconds of the file's first record. */
const TS_WINDOW_SEC = 400 * 86400;
/** Largest record the parallel path takes; larger limits (huge snaplens) go serial. */
export const PARALLEL_MAX_CAPLEN = 1024 * 1024;

/** What the file header says, as the range walkers need it. */
export interface PcapLayout {
  le: boolean;
  nano: boolean;
  /** Largest incl_len the serial reader accepts (same formula as PcapFormat). */
  maxCaplen: number;
  /** Seconds of the first record, the anchor of the timestamp plausibility check. */
  firstSec: number;
}

/** Work for one range. `from` is the first record's offset when `known`, else where the scan starts. */
export interface RangeTask {
  kind?: 'pcap';
  file: string;
  /** The 24-byte file header, parsed here exactly as the serial reader parses it. */
  header: Uint8Array;
  layout: PcapLayout;
  from: number;
  known: boolean;
  /** Records starting before this offset are this range's; Infinity for the last range. */
  end: number;
  decode: Partial<DecodeOptions>;
  /** FILTER text ('' = none): only matching packets are counted, as `decode --summary FILTER` does. */
  filter: string;
  chunkSize: number;
}

/** A compiled FILTER (see ../filter.ts); passed in so this module does not load the compiler. */
export type RangePredicate = (p: Packet) => boolean;

export type RangeResult =
  | {
      ok: true;
      /** Offset of the first record this range decoded (or would have: see `stop`). */
      start: number;
      /** Offset of the first record at or after `end` (the end of the file for the last range). */
      stop: number;
      /** True when the walk reached the end of the file. */
      eof: boolean;
      counts: SummaryCounts;
      /** The truncated-last-record warning, exactly as the serial reader words it. */
      warning: CaptureWarning | null;
      /** Wall-clock span of the walk (epoch ms, comparable across threads), for the debug line. */
      began: number;
      finished: number;
    }
  | { ok: false; reason: string };

const epochMs = (): number => performance.timeOrigin + performance.now();

/** A reader context for parsing alone: frames are not wanted, warnings not expected. */
function quietContext(file: string, onFrame: (f: Frame) => boolean = () => true): ReadContext {
  return new ReadContext(file, onFrame, undefined);
}

/** The file header parsed by the serial reader's own code; null when the reader rejects it. */
function formatOf(ctx: ReadContext, header: Buffer): PcapFormat | null {
  try {
    return pcapFromHeader(ctx, header);
  } catch (e) {
    if (e instanceof CaptureError) return null; // the serial reader reports it
    throw e;
  }
}

/** Reads the file header and first record header; null when the file is not plain classic pcap fit for splitting. */
export function pcapLayout(head: Buffer): PcapLayout | null {
  if (head.length < PCAP_FILE_HEADER + RECORD_HEADER) return null;
  const format = formatOf(quietContext(''), head.subarray(0, PCAP_FILE_HEADER));
  if (format === null || format.maxCaplen > PARALLEL_MAX_CAPLEN) return null;
  return { le: format.le, nano: format.nano, maxCaplen: format.maxCaplen, firstSec: u32At(head, PCAP_FILE_HEADER, format.le) };
}

function u32At(buf: Buffer, p: number, le: boolean): number {
  return le
    ? (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0
    : ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

/** A 16-byte record header at `p` a real writer could have produced; its incl_len, or -1. */
function plausibleRecord(buf: Buffer, p: number, l: PcapLayout): number {
  const sec = u32At(buf, p, l.le);
  const frac = u32At(buf, p + 4, l.le);
  const incl = u32At(buf, p + 8, l.le);
  const orig = u32At(buf, p + 12, l.le);
  if (frac >= (l.nano ? 1e9 : 1e6)) return -1;
  if (incl > l.maxCaplen || incl > orig || orig > Math.max(l.maxCaplen, DEFAULT_MAX_SNAPLEN)) return -1;
  if (Math.abs(sec - l.firstSec) > TS_WINDOW_SEC) return -1;
  return incl;
}

/**
 * First offset at or after `from` where a plausible record header starts a chain of CHAIN
 * plausible records, or a shorter chain that runs into the end of the file; the file size
 * when none can; -1 when none is found. A guess: the caller verifies it against the previous
 * range's walk.
 */
export function findBoundary(fd: number, from: number, fileSize: number, l: PcapLayout): number {
  const span = RECORD_HEADER + l.maxCaplen;
  const want = Math.min(fileSize - from, span * (CHAIN + 2));
  if (want < RECORD_HEADER) return fileSize; // no room for a record header: see the end of this function
  const buf = Buffer.allocUnsafe(want);
  const got = readFully(fd, buf, 0, want, from);
  const windowEndsFile = from + got >= fileSize;
  for (let c = 0; c < span && c + RECORD_HEADER <= got; c++) {
    let q = c;
    let ok = true;
    for (let i = 0; i < CHAIN; i++) {
      // A chain that runs into the end of the file (exactly, or into a record cut there)
      // is as much proof as the file can give; the end of a window that is not the end of
      // the file cannot be reached (the window holds CHAIN maximal records).
      if (q + RECORD_HEADER > got) {
        ok = windowEndsFile;
        break;
      }
      const incl = plausibleRecord(buf, q, l);
      if (incl < 0) {
        ok = false;
        break;
      }
      q += RECORD_HEADER + incl;
      if (q >= got) {
        ok = windowEndsFile;
        break;
      }
    }
    if (ok) return from + c;
  }
  // No record can start in the rest of a file shorter than one maximal record past `from`
  // (e.g. a split inside the last record): claim the end of the file, which the previous
  // range confirms only if its walk ran to the end of the file.
  if (windowEndsFile && got <= span) return fileSize;
  return -1;
}

/** Reads n bytes at file offset `pos` into buf at `at`, fewer only at the end of the file. */
export function readFully(fd: number, buf: Buffer, at: number, n: number, pos: number): number {
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, at + got, n - got, pos + got);
    if (r === 0) break;
    got += r;
  }
  return got;
}

/** A range walk's answer before the times are stamped on it. */
export type Walked = Exclude<RangeResult, { ok: true }> | Omit<Extract<RangeResult, { ok: true }>, 'began' | 'finished'>;

/** Opens the range's file, runs `walk` on it and stamps the times; never throws: a failure
 *  answers `ok: false` with its reason (both the pcap and the pcapng walks run through here). */
export function runWalk(file: string, walk: (fd: number) => Walked): RangeResult {
  let fd = -1;
  try {
    const began = epochMs();
    fd = openSync(file, 'r');
    const r = walk(fd);
    return r.ok ? { ...r, began, finished: epochMs() } : r;
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Walks one range (see the module comment). Never throws: failures answer `ok: false`. */
export function walkRange(task: RangeTask, match: RangePredicate | null = null): RangeResult {
  return runWalk(task.file, (fd) => walk(fd, task, match));
}

function walk(fd: number, task: RangeTask, match: RangePredicate | null): Walked {
  const l = task.layout;
  const end = task.end;
  let start = task.from;
  if (!task.known) {
    start = findBoundary(fd, task.from, fstatSync(fd).size, l);
    if (start < 0) return { ok: false, reason: `no record boundary found after offset ${task.from}` };
  }
  const decoder = new Decoder(task.decode);
  const summary = new DecodeSummary();
  let stopAt = -1;
  const onFrame = (f: Frame): boolean => {
    if (f.fileOffset >= end) {
      stopAt = f.fileOffset;
      return false;
    }
    const p = decoder.decode(f);
    if (match === null || match(p)) summary.add(p);
    return true;
  };
  const format = formatOf(quietContext(task.file, onFrame), Buffer.from(task.header));
  if (format === null || format.le !== l.le || format.nano !== l.nano) return { ok: false, reason: 'the file header does not parse as it did on the main thread' };

  // Incomplete records at a chunk's end are moved in front of the next chunk, into a headroom
  // one maximal record long, so parseRun always sees whole records in one buffer.
  const headroom = RECORD_HEADER + l.maxCaplen;
  const chunk = task.chunkSize;
  const buf = Buffer.allocUnsafe(headroom + chunk);
  const fracLimit = l.nano ? 1e9 : 1e6;
  let filePos = start; // file offset of the first byte not yet parsed
  let pending = 0; // bytes of an incomplete record held just before `headroom`
  const done = (stop: number, eof: boolean, warning: CaptureWarning | null): Walked => ({
    ok: true,
    start,
    stop,
    eof,
    counts: summary.exportCounts(),
    warning,
  });
  for (;;) {
    if (filePos >= end) return done(filePos, false, null);
    const n = readSync(fd, buf, headroom, chunk, filePos + pending);
    if (n === 0) {
      if (pending === 0) return done(filePos, true, null);
      // The serial reader's end(): the size its recordSize asks for, and what is there.
      const want = format.recordSize(buf, headroom - pending, pending, filePos);
      const message = cutRecordMessage(pending, want);
      return done(filePos + pending, true, { file: task.file, offset: filePos, code: 'capture.truncated-file', message });
    }
    const from = headroom - pending;
    const stopEnd = headroom + n;
    const used = format.parseRun(buf, from, stopEnd, filePos);
    if (format.runStopped) return done(stopAt, false, null);
    filePos += used;
    pending = stopEnd - from - used;
    if (filePos >= end) return done(filePos, false, null);
    if (pending >= RECORD_HEADER) {
      const p = stopEnd - pending;
      const incl = u32At(buf, p + 8, l.le);
      if (incl > l.maxCaplen) return { ok: false, reason: `oversized record at offset ${filePos}` };
      if (pending >= RECORD_HEADER + incl && u32At(buf, p + 4, l.le) >= fracLimit) {
        return { ok: false, reason: `timestamp fraction out of range at offset ${filePos}` };
      }
      if (pending >= RECORD_HEADER + incl) return { ok: false, reason: `record at offset ${filePos} not parsed` };
    }
    if (pending > headroom) return { ok: false, reason: `record at offset ${filePos} larger than the headroom` };
    if (pending > 0) buf.copyWithin(headroom - pending, stopEnd - pending, stopEnd);
  }
}
