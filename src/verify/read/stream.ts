/**
 * Pull-based reading of many captures at once, merged in corrected time.
 *
 * Copies of one packet sit in different files (client, director legs, real servers); to judge a
 * connection and then forget its packets, the files must be read side by side, in capture time
 * corrected by each point's clock offset. Each file is read through the capture reader of
 * decode (decode/capture/reader.ts CaptureReader: the same chunks, gzip handling and rule for a
 * cut file as `lvsaudit decode`), parsed a slice at a time and only when its queue of decoded
 * records runs dry, so a file does not run ahead of the others and the memory in flight is one
 * chunk per file plus the live connections.
 */
import { CaptureReader, type CaptureWarning, type InterfaceInfo } from '../../decode/capture/index.js';
import { Decoder } from '../../decode/decoder.js';
import { mirrorLabel } from '../../decode/decap.js';
import type { Frame } from '../../decode/frame.js';
import type { DecapOptions, Packet } from '../../decode/packet.js';
import { Entries, packPacket, readEntry, STRIDE, type RecordPool } from './record.js';
import type { PacketRecord } from '../model/record.js';

/** The drops pcapng Interface Statistics Blocks report over a file's interfaces, or null when
 *  none reports any counter (classic pcap, or a writer that leaves them out). */
export function interfaceDrops(interfaces: readonly InterfaceInfo[]): number | null {
  let n: number | null = null;
  for (const i of interfaces) {
    if (i.ifDrop != null) n = (n ?? 0) + i.ifDrop;
    if (i.osDrop != null) n = (n ?? 0) + i.osDrop;
  }
  return n;
}

/** Whether the record packed as entry `n` of `e` is kept (./keep.ts). */
export type RecordKeep = (e: Entries, n: number) => boolean;

export interface ReaderOptions {
  toaKinds?: number[];
  guePorts?: number[];
  /** Mirror/overlay transports looked through (decode/decap.ts); absent or null: none. */
  decap?: DecapOptions | null;
  keep?: RecordKeep;
  /** Every decoded packet (ARP rules, frame counts). */
  observe?: (p: Packet) => void;
  onWarning?: (w: CaptureWarning) => void;
  /** ns subtracted from capture time to get reference time. */
  offsetNs: number;
  /** Bytes read at a time and parsed at a time (tests: small values cross more chunk ends);
   *  default: READ-byte chunks parsed in SLICE pieces. */
  chunkSize?: number;
  /** Copy the TCP option bytes into records (FullNAT rules need them); default true. */
  tcpOptions?: boolean;
  /** Reuse judged records (./record.ts RecordPool) instead of allocating. */
  pool?: RecordPool;
  /** The run's capture files, which entries name by index (./feed.ts captureList); default
   *  this reader's file alone. */
  captures?: readonly string[];
  /** A step back in a file's corrected time larger than this is not smoothed over in the merge
   *  order (see PointReader.steppedBack); default: none is. */
  maxStepBackNs?: number;
  /** This thread's share of the connections (../parallel/partition.ts): a packet it returns false
   *  for is decoded and observed but not extracted. */
  share?: (p: Packet) => boolean;
  /** Frames to pass over undecoded (../parallel/partition.ts shareSkip); `observeSkipped` gets the
   *  capture time of each. */
  skip?: (f: Frame) => boolean;
  observeSkipped?: (tsNs: number) => void;
}

/** Bytes handed to the parser at a time (the reader's chunks are larger). Small on purpose: a
 *  slice's packets are all packed at once and then wait in the queue until the merge reaches
 *  them, so the slice sets how many entries are in flight across the files — 32 KiB keeps them
 *  (~250 per file) in the CPU cache; 256 KiB slices were markedly slower on the bench set. */
const SLICE = 32 * 1024;
/** Bytes read at a time from each capture: half the reader's default, as every file of the run
 *  holds two such buffers at once (read-ahead) and smaller reads kept more of the merge's working
 *  set in cache on the bench set; much smaller reads cost more in read calls than they saved. */
const READ = 512 * 1024;

/** Entries a queue starts with room for: a 32 KiB slice of small packets. */
const QUEUE_START = 512;

/**
 * One capture file as a queue of kept packets, refilled one slice at a time. The queue holds
 * them packed (./record.ts entries: no object per packet while it waits); `shift` makes the
 * head's record as the merge takes it.
 */
export class PointReader {
  /** Entries [qi..qn): filled only when empty (fill), so they are reused from 0 once the queue
   *  runs dry, the byte array too. */
  protected readonly entries = new Entries(QUEUE_START);
  /** Merge time of each queued entry (see mergeFloor). */
  protected readonly queueT: number[] = [];
  protected qi = 0;
  protected qn = 0;
  /**
   * The latest corrected time of any frame of the file so far: a record is merged at this time,
   * not at its own. A capture's timestamps may step back a little (multi-queue NICs, `-i any`);
   * merged at their own times, such records would come before records of other files that they
   * came after in this one, and the order would depend on which records a thread keeps (a split
   * run keeps some of them). At the floor, a file's records merge in file order, whoever reads
   * them. Rules still see each record's own time.
   */
  protected mergeFloor = -Infinity;
  /** A step back larger than `maxStepBackNs` was met: the floor was reset there, and the merge
   *  order of that file's records then depends on which of them a thread keeps (verify.ts runs
   *  a split run again on one thread). */
  steppedBack = false;
  /** The capture being read; null until the first fill. */
  private reader: CaptureReader | null = null;
  private readonly decoder: Decoder;
  private readonly captures: readonly string[];
  /** This file's index in `captures`. */
  private readonly captureNo: number;
  done = false;
  frames = 0;
  firstTs = Infinity;
  lastTs = -Infinity;
  malformedCount = 0;
  readonly malformedFrames: number[] = [];
  malformedWhat = '';
  /** Frames read through a mirror/overlay transport (ReaderOptions.decap), and the first one's
   *  transport (decode/decap.ts mirrorLabel). */
  mirrored = 0;
  mirrorWhat = '';

  constructor(
    readonly file: string,
    readonly point: number,
    protected readonly opts: ReaderOptions,
  ) {
    this.decoder = new Decoder({ ...(opts.toaKinds ? { toaKinds: opts.toaKinds } : {}), ...(opts.guePorts ? { guePorts: opts.guePorts } : {}), decap: opts.decap ?? null });
    this.captures = opts.captures ?? [file];
    this.captureNo = this.captures.indexOf(file);
    if (this.captureNo < 0) throw new Error(`PointReader: ${file} is not in the capture list`);
  }

  private async start(): Promise<void> {
    const skip = this.opts.skip;
    this.reader = await CaptureReader.open(
      this.file,
      (frame) => {
        this.noteFrame(frame);
        if (skip !== undefined && skip(frame)) {
          this.opts.observeSkipped?.(frame.tsSec * 1e9 + frame.tsNsec);
          return;
        }
        const p = this.decoder.decode(frame);
        if (p.malformed.present) {
          this.malformedCount++;
          if (this.malformedFrames.length < 10) this.malformedFrames.push(p.frame);
          if (!this.malformedWhat) this.malformedWhat = `${p.malformed.layer} at byte ${p.malformed.offset}: ${p.malformed.reason}`;
        }
        if (p.mirror.count !== 0) this.noteMirror(p);
        this.opts.observe?.(p);
        if (this.opts.share !== undefined && !this.opts.share(p)) return;
        this.queuePacket(p);
      },
      {
        ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
        chunkSize: this.opts.chunkSize ?? READ,
      },
    );
  }

  private noteMirror(p: Packet): void {
    if (this.mirrored++ === 0) this.mirrorWhat = mirrorLabel(p.mirror.kind, p.mirror.type, p.mirror.session);
  }

  /** Packs a decoded packet of this thread's share into the queue when it is kept. */
  private queuePacket(p: Packet): void {
    const n = this.qn;
    const e = this.entries;
    // The byte array starts over only once the queue has drained.
    if (n === 0) e.bytesLen = 0;
    const bytesBefore = e.bytesLen;
    if (!packPacket(p, this.point, this.captureNo, this.opts.tcpOptions !== false, e, n)) return;
    const keep = this.opts.keep;
    if (keep !== undefined && !keep(e, n)) {
      e.bytesLen = bytesBefore;
      return;
    }
    this.queueT[n] = this.mergeFloor;
    this.qn = n + 1;
  }

  /** Every frame, decoded or not: counts, time extent, merge floor. Given the frame, not its
   *  time: a float argument to a call V8 does not inline is boxed, a heap number per frame. */
  private noteFrame(frame: Frame): void {
    const ts = frame.tsSec * 1e9 + frame.tsNsec;
    this.frames++;
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts > this.lastTs) this.lastTs = ts;
    const t = ts - this.opts.offsetNs;
    if (t >= this.mergeFloor) this.mergeFloor = t;
    else if (this.mergeFloor - t > (this.opts.maxStepBackNs ?? Infinity)) {
      this.steppedBack = true;
      this.mergeFloor = t;
    }
  }

  /** Merge time of the next record (Infinity when none is queued). */
  peekTime(): number {
    return this.qi < this.qn ? this.queueT[this.qi]! : Infinity;
  }

  /** Whether an item is queued. */
  hasQueued(): boolean {
    return this.qi < this.qn;
  }

  /** The head's record (a pooled one when the options give a pool), dropped from the queue. */
  shift(): PacketRecord | undefined {
    if (this.qi >= this.qn) return undefined;
    const e = this.entries;
    const r = readEntry(e.i32, e.f64, this.qi * STRIDE, e.bytes, this.captures, this.opts.pool?.take());
    r.t = r.ts - this.opts.offsetNs;
    this.advance();
    return r;
  }

  /** Drops the head of the queue (a drained queue is refilled from entry 0). Its entry keeps
   *  its contents until the next fill, so a subclass's caller may still read it. */
  protected advance(): void {
    if (++this.qi === this.qn) this.qi = this.qn = 0;
  }

  /** Reads until at least one record is queued or the file ends. */
  async fill(): Promise<void> {
    if (this.reader === null) {
      if (this.done) return;
      await this.start();
    }
    const reader = this.reader!;
    const slice = this.opts.chunkSize ?? SLICE;
    while (this.qi >= this.qn && !this.done) {
      // Slices of the loaded chunk are parsed without an await; one await per chunk.
      if (reader.feed(slice)) continue;
      if (!(await reader.next())) {
        this.done = true;
        await reader.close();
        const summary = reader.end();
        this.truncated = summary.truncated;
        this.drops = interfaceDrops(summary.interfaces);
        return;
      }
    }
  }

  /** The file ended inside a record or in a cut gzip stream (the reader warned once). */
  truncated = false;
  /** Packets the capture lost before the file, as its pcapng statistics say (null: not said). */
  drops: number | null = null;

  /** Stops reading (sampling pass). */
  async close(): Promise<void> {
    this.done = true;
    await this.reader?.close();
  }
}

/**
 * Streams every reader's records in merge-time order (corrected time, kept from stepping back
 * within a file: PointReader.mergeFloor) into `onRecord`; `onTick(now)` runs each time the
 * merge crosses a multiple of `tickNs`, with that multiple, before the first record at or
 * after it (connection finalisation). Ticks on a time grid, not every N records, so which
 * connections a tick judges depends only on the records before it: the same in a run split
 * over threads (each seeing its share of the records) as in one.
 *
 * A run has a handful of capture files, so the next record is found by scanning the readers'
 * head times kept in one typed array — cheaper than a heap's sift with a property chase per
 * comparison. Equal times go to the reader given first (client, director, real servers: the
 * order of the points), so ties break the same way in every run.
 */
export async function mergeReaders(
  readers: readonly PointReader[],
  onRecord: (r: PacketRecord) => void,
  onTick: (now: number) => void,
  tickNs: number,
): Promise<void> {
  await mergeQueues(readers, (reader) => onRecord(reader.shift()!), onTick, tickNs);
}

/**
 * mergeReaders with any way of taking: `take(reader)` takes the reader's head item (exactly
 * one), the next in merge order, as a record (shift) or otherwise (a subclass may copy the
 * head entry elsewhere: ../parallel/packing-reader.ts PackingReader).
 */
export async function mergeQueues<R extends PointReader>(
  readers: readonly R[],
  take: (reader: R) => void,
  onTick: (now: number) => void,
  tickNs: number,
): Promise<void> {
  const k = readers.length;
  // Merge time of each reader's next record; Infinity once it has none left.
  const head = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const r = readers[i]!;
    await r.fill();
    head[i] = r.peekTime();
  }
  let nextTick = -Infinity;
  for (;;) {
    let best = -1;
    let bestT = Infinity;
    for (let i = 0; i < k; i++) {
      if (head[i]! < bestT) {
        bestT = head[i]!;
        best = i;
      }
    }
    if (best < 0) return;
    const reader = readers[best]!;
    if (bestT >= nextTick) {
      const grid = Math.floor(bestT / tickNs) * tickNs;
      if (nextTick !== -Infinity) onTick(grid);
      nextTick = grid + tickNs;
    }
    take(reader);
    if (!reader.hasQueued()) await reader.fill();
    head[best] = reader.peekTime();
  }
}

/** Reads the first `limit` kept records of a file (the sample the clock and topology are learnt from). */
export async function sampleFile(file: string, point: number, limit: number, opts: ReaderOptions): Promise<{ records: PacketRecord[]; reader: PointReader }> {
  const reader = new PointReader(file, point, opts);
  const records: PacketRecord[] = [];
  while (records.length < limit) {
    // Awaited only when the queue is empty: an await per record cost more than the record.
    if (!reader.hasQueued()) await reader.fill();
    const r = reader.shift();
    if (!r) break;
    records.push(r);
  }
  await reader.close();
  return { records, reader };
}
