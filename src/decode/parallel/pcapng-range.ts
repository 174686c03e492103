/**
 * One byte range of a pcapng file, read and summarised on its own: the pcapng unit of work of
 * the parallel `decode --summary` (./index.ts splits the file and proves the merge exact; this
 * module is the pcapng counterpart of ./range.ts).
 *
 * State. A pcapng packet block means something only through the section it is in (byte order)
 * and the interfaces declared before it (link type, snaplen, if_tsresol, if_tsoffset). Only an
 * SHB or an IDB changes that state in the serial reader (PcapngFormat); every other block is
 * counted and skipped. The split is therefore offered only for files whose *prefix* — the
 * blocks before the first packet block, at offset `firstPacket` — is one SHB followed by
 * non-packet blocks (the IDBs among them): the common shape of dumpcap/tcpdump output. Every
 * range builds its PcapngFormat by parsing exactly those prefix bytes (handed over by the main
 * thread, like the pcap file header), so it holds the state the serial reader holds at
 * `firstPacket`; and every range refuses (→ serial) when it meets an SHB or an IDB at or after
 * `firstPacket`. Hence, as long as all ranges succeed, no block at or after `firstPacket`
 * changed the state, and the prefix state is the state in force at every later block.
 *
 * Walk. Blocks are parsed with PcapngFormat.recordSize/parse, the serial reader's own code,
 * one whole block at a time from a buffer that always holds the current block contiguously;
 * a block longer than PARALLEL_MAX_BLOCK, a fatal error, or any warning the serial reader
 * would print (an option overrunning its block) answers `ok: false`; only a block cut by the
 * end of the file produces the serial reader's warning, word for word.
 *
 * Resync. Blocks start at multiples of 4 (the SHB at 0, all lengths multiples of 4), so the
 * scan for a range's first block tries only those, and accepts a candidate when it and the
 * blocks chained after it are plausible: a known type, a length ≥ 12, multiple of 4 and within
 * limits, the trailing copy of the length equal to the leading one, per-type minimum sizes, an
 * EPB's interface id within the interface table and its captured length within the block. The
 * chain must be CHAIN blocks long or reach the end of the file (exactly, or into a block cut
 * there). The result is a guess; ./index.ts accepts it only if it equals the offset where the
 * previous range stopped.
 */
import { fstatSync, readSync } from 'node:fs';
import {
  PCAPNG_EPB,
  PCAPNG_IDB,
  PCAPNG_MIN_SIZE,
  PCAPNG_PB,
  PCAPNG_SHB,
  PCAPNG_SPB,
  PcapngFormat,
  pcapngByteOrder,
  pcapngKnownBlock,
} from '../capture/pcapng.js';
import { ReadContext } from '../capture/types.js';
import { CaptureError, cutRecordMessage, type CaptureWarning } from '../capture/errors.js';
import type { Frame } from '../frame.js';
import { Decoder } from '../decoder.js';
import type { DecodeOptions } from '../packet.js';
import { DecodeSummary } from '../summary.js';
import { readFully, runWalk, type RangePredicate, type RangeResult, type Walked } from './range.js';

/** Largest block the parallel path takes (a larger one sends the file down the serial path). */
export const PARALLEL_MAX_BLOCK = 1024 * 1024;
/** Largest prefix (blocks before the first packet block) the main thread reads and hands out. */
export const MAX_PREFIX = 1024 * 1024;
/** Blocks a plausible boundary must be followed by (each plausible) unless the file ends first. */
const CHAIN = 8;
const BLOCK_HEADER = 12;

const IDB = PCAPNG_IDB;
const EPB = PCAPNG_EPB;

/** What the main thread learnt from the file's first blocks (see `pcapngPrefix`). */
export interface PcapngLayout {
  le: boolean;
  /** Offset of the first packet block (EPB, SPB or PB): the end of the prefix. */
  firstPacket: number;
  /** IDBs in the prefix: the interface table every packet block refers to. */
  interfaces: number;
}

export interface PcapngRangeTask {
  kind: 'pcapng';
  file: string;
  /** The file's bytes [0, firstPacket): parsed by every range exactly as the serial reader parses them. */
  prefix: Uint8Array;
  layout: PcapngLayout;
  /** First block's offset when `known` (range 0: the start of the file), else where the scan starts. */
  from: number;
  known: boolean;
  /** Blocks starting before this offset are this range's; Infinity for the last range. */
  end: number;
  decode: Partial<DecodeOptions>;
  filter: string;
  chunkSize: number;
}

function u32(buf: Uint8Array, p: number, le: boolean): number {
  return le
    ? (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0
    : ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

/**
 * Parses the blocks of `head` (the file's first bytes, `fileSize` in all) with the serial
 * reader's PcapngFormat up to the first packet block. A layout when the file starts with one
 * valid SHB and reaches a packet block within `head` without a second SHB; else why not (the
 * serial reader then reads the file and reports whatever is wrong with it).
 */
export function pcapngPrefix(head: Uint8Array, fileSize: number): PcapngLayout | string {
  const buf = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (buf.length < PCAPNG_MIN_SIZE.get(PCAPNG_SHB)! || buf.readUInt32LE(0) !== PCAPNG_SHB) return 'not pcapng';
  const ctx = new ReadContext('', () => true, undefined);
  const format = new PcapngFormat(ctx);
  let p = 0;
  try {
    for (;;) {
      if (p + BLOCK_HEADER > buf.length) return p >= fileSize ? 'pcapng without packet blocks' : `no packet block in the first ${buf.length} bytes`;
      const type = p === 0 ? PCAPNG_SHB : u32(buf, p, format.littleEndian);
      if (p > 0 && type === PCAPNG_SHB) return 'pcapng with a second section before the first packet';
      if (type === EPB || type === PCAPNG_SPB || type === PCAPNG_PB) {
        return { le: format.littleEndian, firstPacket: p, interfaces: ctx.summary.interfaces.length };
      }
      const size = format.recordSize(buf, p, buf.length - p, p);
      if (p + size > buf.length) return `no packet block in the first ${buf.length} bytes`;
      format.parse(buf, p, size, p);
      p += size;
    }
  } catch (e) {
    if (e instanceof CaptureError) return `pcapng prefix: ${e.detail}`;
    throw e;
  }
}

/** The file from `start` on, read in growing windows, for the boundary scan. */
class Window {
  buf: Buffer = Buffer.alloc(0);
  len = 0;
  constructor(
    private readonly fd: number,
    private readonly start: number,
    private readonly fileSize: number,
  ) {}

  /** True when the window holds file bytes [start, start + n) (reads more if needed). */
  has(n: number): boolean {
    if (n <= this.len) return true;
    const limit = this.fileSize - this.start;
    if (this.len >= limit) return false;
    const want = Math.min(limit, Math.max(n, this.len * 2, 256 * 1024));
    const grown = Buffer.allocUnsafe(want);
    this.buf.copy(grown, 0, 0, this.len);
    this.len += readFully(this.fd, grown, this.len, want - this.len, this.start + this.len);
    this.buf = grown;
    return n <= this.len;
  }

  get endsFile(): boolean {
    return this.start + this.len >= this.fileSize;
  }
}

/** plausibleBlock's answer for an SHB: a new section, where every walk stops anyway. */
const SECTION = -2;

/**
 * Length of a plausible block at window offset `q`; 0 when the file ends inside it (plausible
 * as far as it goes); SECTION for an SHB; -1 when implausible.
 */
function plausibleBlock(w: Window, q: number, l: PcapngLayout): number {
  if (!w.has(q + BLOCK_HEADER)) return w.endsFile ? 0 : -1;
  const b = w.buf;
  const type = u32(b, q, l.le);
  // An SHB may switch the byte order, so its length cannot be read in this one; a walk that
  // meets it refuses the split, so the scan need not look further.
  if (type === PCAPNG_SHB) return pcapngByteOrder(u32(b, q + 8, true)) !== null ? SECTION : -1;
  const len = u32(b, q + 4, l.le);
  // Only block types the serial reader names: it skips unknown ones too, but a guess that rests
  // on an unknown type is not worth the risk (a true one only costs the split).
  if (!pcapngKnownBlock(type) || len < BLOCK_HEADER || len % 4 !== 0 || len > PARALLEL_MAX_BLOCK) return -1;
  if (len < (PCAPNG_MIN_SIZE.get(type) ?? BLOCK_HEADER)) return -1;
  if (type === EPB && (u32(b, q + 8, l.le) >= l.interfaces || u32(b, q + 20, l.le) > len - 32)) return -1;
  if (!w.has(q + len)) return w.endsFile ? 0 : -1;
  if (u32(w.buf, q + len - 4, l.le) !== len) return -1;
  return len;
}

/**
 * First offset at or after `from` (a multiple of 4) where a plausible block starts a chain of
 * CHAIN plausible blocks, or a shorter one ending at an SHB or running into the end of the
 * file; the file size when no block can start before it; -1 when none is found. A guess the
 * caller verifies.
 *
 * A candidate whose very first block runs past the end of the file proves nothing (any four
 * bytes of payload followed by a large "length" would do): it is only taken when no candidate
 * with at least one verified block follows — the case of a split just before a cut last block.
 */
export function findBlockBoundary(fd: number, from: number, fileSize: number, l: PcapngLayout): number {
  const first = (from + 3) & ~3;
  const w = new Window(fd, first, fileSize);
  let weak = -1;
  // The first true block starting at or after `from` starts within one maximal block of it.
  for (let c = 0; c < PARALLEL_MAX_BLOCK; c += 4) {
    if (!w.has(c + BLOCK_HEADER)) break;
    let q = c;
    let verdict: 'strong' | 'weak' | 'no' = 'strong';
    for (let i = 0; i < CHAIN; i++) {
      const len = plausibleBlock(w, q, l);
      if (len === -1) verdict = 'no';
      else if (len === 0 && i === 0) verdict = 'weak';
      if (len <= 0) break; // implausible, cut by the end of the file, or a new section
      q += len;
      if (first + q === fileSize) break; // reached the end of the file exactly
    }
    if (verdict === 'strong') return first + c;
    if (verdict === 'weak' && weak < 0) weak = first + c;
  }
  if (weak >= 0) return weak;
  // No block can start in the few bytes left (e.g. a split inside the last block): claim the
  // end of the file, which the previous range confirms only if its walk reached it.
  if (w.endsFile && w.len <= PARALLEL_MAX_BLOCK) return fileSize;
  return -1;
}

/** Walks one pcapng range (see the module comment). Never throws: failures answer `ok: false`. */
export function walkPcapngRange(task: PcapngRangeTask, match: RangePredicate | null = null): RangeResult {
  return runWalk(task.file, (fd) => walk(fd, task, match));
}

function walk(fd: number, task: PcapngRangeTask, match: RangePredicate | null): Walked {
  const l = task.layout;
  const end = task.end;
  const fileSize = fstatSync(fd).size;
  const decoder = new Decoder(task.decode);
  const summary = new DecodeSummary();
  let inPrefix = true;
  let frameInPrefix = false;
  // Any warning the serial reader would print (not only the cut last block) → serial path.
  const seen: { warning: string | null } = { warning: null };
  const onFrame = (f: Frame): boolean => {
    if (inPrefix) {
      frameInPrefix = true;
      return true;
    }
    const p = decoder.decode(f);
    if (match === null || match(p)) summary.add(p);
    return true;
  };
  const ctx = new ReadContext(task.file, onFrame, (w) => {
    seen.warning ??= `the serial reader warns at offset ${w.offset}: ${w.message}`;
  });
  const format = new PcapngFormat(ctx);

  // The state at `firstPacket`: the prefix parsed block by block, as the serial reader does.
  let start = task.from;
  if (!task.known) {
    const pre = Buffer.from(task.prefix.buffer, task.prefix.byteOffset, task.prefix.byteLength);
    let p = 0;
    while (p < pre.length) {
      const size = format.recordSize(pre, p, pre.length - p, p);
      if (p + size > pre.length) return { ok: false, reason: `prefix block at offset ${p} runs past the prefix` };
      format.parse(pre, p, size, p);
      p += size;
    }
    if (p !== l.firstPacket || frameInPrefix) return { ok: false, reason: 'the prefix does not end at the first packet block' };
    if (seen.warning !== null) return { ok: false, reason: seen.warning };
    start = findBlockBoundary(fd, task.from, fileSize, l);
    if (start < 0) return { ok: false, reason: `no block boundary found after offset ${task.from}` };
  }
  inPrefix = false;

  // buf[lo, hi) holds file bytes [filePos, filePos + hi - lo); the current block is always
  // moved to the front before more is read, so a whole block is contiguous once read.
  const buf = Buffer.allocUnsafe(PARALLEL_MAX_BLOCK + task.chunkSize);
  let lo = 0;
  let hi = 0;
  let filePos = start;
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
    // The serial reader's EPB fast path, over whole blocks that start before `end`; whatever
    // it does not take (other blocks, the one straddling `end`) goes block by block below.
    const run = format.parseRun(buf, lo, Math.min(hi, lo + (end - filePos)), filePos);
    if (run > 0) {
      if (seen.warning !== null) return { ok: false, reason: seen.warning };
      lo += run;
      filePos += run;
      continue;
    }
    const avail = hi - lo;
    let want = BLOCK_HEADER;
    if (avail >= BLOCK_HEADER) {
      const type = u32(buf, lo, l.le);
      if (filePos >= l.firstPacket && (type === PCAPNG_SHB || type === IDB)) {
        return { ok: false, reason: `${type === IDB ? 'IDB' : 'SHB'} at offset ${filePos} after the first packet block` };
      }
      want = format.recordSize(buf, lo, avail, filePos);
      if (want > PARALLEL_MAX_BLOCK) return { ok: false, reason: `block of ${want} bytes at offset ${filePos}` };
      if (avail >= want) {
        format.parse(buf, lo, want, filePos);
        if (seen.warning !== null) return { ok: false, reason: seen.warning };
        lo += want;
        filePos += want;
        continue;
      }
    }
    if (lo > 0) {
      buf.copyWithin(0, lo, hi);
      hi -= lo;
      lo = 0;
    }
    const n = readSync(fd, buf, hi, buf.length - hi, filePos + hi);
    if (n === 0) {
      if (avail === 0) return done(filePos, true, null);
      // The serial reader's end(): the size its recordSize asked for, and what is there.
      const message = cutRecordMessage(avail, want);
      return done(filePos + avail, true, { file: task.file, offset: filePos, code: 'capture.truncated-file', message });
    }
    hi += n;
  }
}
