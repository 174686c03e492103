/**
 * Packed records (read/record.ts entries) on their trip from the feeder thread, which reads
 * and decodes the captures, to the thread that judges them (./feeder.ts).
 *
 * Nothing here packs or reads a record field: the feeder's readers queue the entries
 * read/record.ts packPacket writes straight from the decoded packet (the same readers and the
 * same packing as a run read on one thread), the merge copies each into a batch in a ring of
 * batch slots shared by both threads (WireRing: nothing is allocated or copied per batch but
 * the entries), with the bytes an entry refers to (IPv6 addresses, TCP option bytes) appended
 * to the batch's own byte array, and the judging side reads each back with read/record.ts
 * readEntry (RecordUnpacker). An entry names its capture file by its index in the plan's list
 * (read/feed.ts captureList), which both sides have.
 *
 * An entry whose point slot is negative is not a record but a tick of the merge (the
 * connection-judging sweeps of read/stream.ts mergeQueues), numbered into `RecordBatch.ticks`:
 * ticks and records keep the one order the merge gave them.
 */
import type { AnswerNote } from '../read/director-answers.js';
import { BYTES_AT_SLOT, BYTES_LEN_SLOT, Entries, POINT_SLOT, readEntry, STRIDE } from '../read/record.js';
import type { PacketRecord } from '../model/record.js';

/** What the judging thread needs at a tick besides its time (./feeder.ts). */
export interface TickNote {
  now: number;
  /** Per point: frames, first and last capture time so far (3 numbers each). */
  extents: number[];
  /** Director answers noted since the previous tick (read/director-answers.ts). */
  answers: AnswerNote[];
}

/** One batch as posted: its entries are in ring slot `slot`. */
export interface RecordBatch {
  slot: number;
  count: number;
  /** The bytes the batch's entries refer to, back to back (null: none). */
  bytes: ArrayBuffer | null;
  ticks: TickNote[];
}

/**
 * The batch slots both threads share: `slots` batches of `entries` entries. The feeder fills a
 * slot only once the judging side has given it back (verify/parallel/feeder.ts counts them).
 */
export class WireRing {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly slots: number,
    readonly entries: number,
  ) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }

  static create(slots: number, entries: number): WireRing {
    return new WireRing(new SharedArrayBuffer(slots * entries * STRIDE * 4), slots, entries);
  }

  /** int32 index of entry `i` of slot `slot`. */
  at(slot: number, i: number): number {
    return (slot * this.entries + i) * STRIDE;
  }
}

/**
 * Fills the ring's slots with entries and ticks, one batch per slot in turn (feeder side). The
 * caller takes the batch when it is `full`, or at the end; `acquire` is called before a batch's
 * first entry is written and returns once that slot is free. Entries are written into the slot
 * itself: a batch filled apart and then copied into the slot whole costs a second copy of
 * every entry.
 */
export class RecordPacker {
  /** The bytes of the batch's entries (the entries go straight into the ring slot). */
  private readonly batchBytes = new Entries(0, 16 * 1024);
  private slot = 0;
  private count = 0;
  private open = false;
  private ticks: TickNote[] = [];

  constructor(
    private readonly ring: WireRing,
    private readonly acquire: () => void = () => {},
  ) {}

  get size(): number {
    return this.count;
  }

  /** Whether the batch has no room left. */
  get full(): boolean {
    return this.count >= this.ring.entries;
  }

  /** The ring index of the batch's next entry. */
  private entry(): number {
    if (!this.open) {
      this.acquire();
      this.open = true;
    }
    if (this.count >= this.ring.entries) throw new Error('RecordPacker: batch full (take it first)');
    return this.ring.at(this.slot, this.count++);
  }

  /** Copies entry `n` of `src` (a reader's queue) into the batch. */
  add(src: Entries, n: number): void {
    const d = this.entry();
    const s = n * STRIDE;
    const from = src.i32;
    const to = this.ring.i32;
    for (let k = 0; k < STRIDE; k++) to[d + k] = from[s + k]!;
    const at = from[s + BYTES_AT_SLOT]!;
    if (at >= 0) to[d + BYTES_AT_SLOT] = this.batchBytes.addBytes(src.bytes, at, at + from[s + BYTES_LEN_SLOT]!);
  }

  tick(note: TickNote): void {
    const d = this.entry();
    this.ring.i32[d + POINT_SLOT] = -1 - this.ticks.length;
    this.ticks.push(note);
  }

  /** The batch so far, and the buffers to move with it; the next one goes to the next slot. */
  take(): { batch: RecordBatch; transfer: ArrayBuffer[] } {
    const b = this.batchBytes;
    let bytes: ArrayBuffer | null = null;
    if (b.bytesLen > 0) {
      bytes = b.bytes.buffer.slice(0, b.bytesLen) as ArrayBuffer;
      b.bytesLen = 0;
    }
    const batch: RecordBatch = { slot: this.slot, count: this.count, bytes, ticks: this.ticks };
    this.slot = (this.slot + 1) % this.ring.slots;
    this.count = 0;
    this.open = false;
    this.ticks = [];
    return { batch, transfer: bytes !== null ? [bytes] : [] };
  }
}

/** An empty byte array, for a batch without bytes (none of its entries refers to any). */
const NO_BYTES = new Uint8Array(0);

/** Reads entries back into records (judging side). */
export class RecordUnpacker {
  private bytes: Uint8Array = NO_BYTES;
  private batch: RecordBatch | null = null;

  constructor(
    private readonly ring: WireRing,
    /** `offsetsNs[point]`: the clock offset a record's corrected time subtracts (read/stream.ts). */
    private readonly offsetsNs: readonly number[],
    /** The plan's capture files (read/feed.ts captureList). */
    private readonly captures: readonly string[],
  ) {}

  /** Takes the next batch: its entries are read by index. */
  load(batch: RecordBatch): void {
    this.batch = batch;
    this.bytes = batch.bytes === null ? NO_BYTES : new Uint8Array(batch.bytes);
  }

  /** The tick entry `i` stands for, or null when it is a record. */
  tickAt(i: number): TickNote | null {
    const p = this.ring.i32[this.ring.at(this.batch!.slot, i) + POINT_SLOT]!;
    return p < 0 ? this.batch!.ticks[-1 - p]! : null;
  }

  /** Entry `i` of the loaded batch as a record (written into `into` when given). */
  record(i: number, into?: PacketRecord): PacketRecord {
    const ring = this.ring;
    const r = readEntry(ring.i32, ring.f64, ring.at(this.batch!.slot, i), this.bytes, this.captures, into);
    r.t = r.ts - this.offsetsNs[r.point]!;
    return r;
  }
}
