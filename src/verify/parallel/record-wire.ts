/**
 * Packet records (model/record.ts) in packed form, for the trip from the feeder thread, which
 * reads and decodes the captures, to the thread that judges them (./feeder.ts).
 *
 * There is one record format: the PacketRecord that read/record.ts extractRecord makes from a
 * decoded packet, and kept or not by read/keep.ts keepForServices. The wire entry is that
 * record packed (packRecord), and read back into one (readEntry): neither side decides a field
 * on its own. `packPacket` is extractRecord into a reused record, then packRecord; `keepsEntry`
 * asks the record predicate. test/verify/record-wire.test.ts checks that every field of a record
 * survives the trip, and that what comes out equals extractRecord's record for every frame of
 * the committed captures and for mutated frames.
 *
 * An entry is STRIDE int32 slots (the capture time a float64 over the first two). Every string
 * (capture file, addresses, MACs, tunnel kind) is an index into a table that grows on both
 * sides: each distinct string crosses once, and the judging side's records share one string
 * per value, as extractRecord's interned ones do. TCP option bytes are a range of a byte array.
 * Entries wait in their reader's queue (PackingReader) until the merge copies them into a batch
 * in a ring of batch slots shared by both threads (WireRing: nothing is allocated or copied per
 * batch but the entries); the judging side reads each back into a record (RecordUnpacker).
 *
 * An entry whose point slot is negative is not a record but a tick of the merge (the
 * connection-judging sweeps of read/stream.ts mergeQueues), numbered into `RecordBatch.ticks`:
 * ticks and records keep the one order the merge gave them.
 */
import type { Direction } from '../../decode/frame.js';
import type { Packet } from '../../decode/packet.js';
import type { AnswerNote } from '../read/director-answers.js';
import { blankIp, blankRecord, extractRecord, optionsEnd } from '../read/record.js';
import type { IpFields, PacketRecord } from '../model/record.js';
import { StringTable } from './string-table.js';

/** int32 slots per entry (even: the float64 capture time sits on slots 0–1). Small fields share
 *  slots: every entry is copied once more, from its reader's queue into the ring. */
export const STRIDE = 30;

// Slot numbers. An IP header takes 5 slots from IP (inner) and OUTER.
const POINT = 2;
const CAPTURE = 3;
/** Bits: HAS_OUTER, UDP; the direction (from DIR_SHIFT) and the L4 checksum verdict (from
 *  L4_SHIFT), two bits each; L4_PARTIAL; the MSS option in the high 16 bits. */
const META = 4;
const FRAME = 5;
const SRC_MAC = 6;
const DST_MAC = 7;
const IF_INDEX = 8;
const INTERFACE_ID = 9;
const IP = 10;
const OUTER = 15;
const TUNNEL = 20;
/** sport << 16 | dport. */
const PORTS = 21;
const SEQ = 22;
const ACK = 23;
/** TCP flags << 16 | window. */
const FLAGS_WINDOW = 24;
const PAYLOAD_LEN = 25;
const HASH = 26;
const OPT_SIG = 27;
/** Where the entry's option bytes start in its byte array (-1: none), and how many. */
const OPTS_AT = 28;
const OPTS_LEN = 29;

const HAS_OUTER = 2;
const UDP = 4;
const DIR_SHIFT = 3;
const L4_SHIFT = 5;
const L4_PARTIAL = 1 << 7;
const MSS_SHIFT = 16;

/** An IP header's slots: IP_HEAD packs IPv6 (bit 0), DF, MF, the checksum verdict (bits 3–4),
 *  TTL (bits 8–15), TOS (16–23) and protocol (24–31). */
const IP_HEAD = 0;
const IP_SRC = 1;
const IP_DST = 2;
const IP_ID = 3;
const IP_TOTAL_LEN = 4;

const V6 = 1;
const DF = 2;
const MF = 4;
const CSUM_SHIFT = 3;

/** A checksum verdict: 0 not checked (null), 1 good, 2 bad. */
function tri(v: boolean | null): number {
  return v === null ? 0 : v ? 1 : 2;
}
function untri(v: number): boolean | null {
  return v === 0 ? null : v === 1;
}

const DIRECTIONS: readonly Direction[] = [null, 'in', 'out'];

/** The string fields of an entry, for WireStrings.at (an IP header's source, then destination). */
const FIELD_SRC_MAC = 0;
const FIELD_DST_MAC = 1;
const FIELD_IP = 2;
const FIELD_OUTER = 4;
const FIELD_TUNNEL = 6;
const FIELDS = 7;

function directionCode(d: Direction): number {
  return d === null ? 0 : d === 'in' ? 1 : 2;
}

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
  /** Strings added to the table since the previous batch, in table order. */
  strings: string[];
  /** The TCP option bytes of the batch's records, back to back (null: none). */
  opts: ArrayBuffer | null;
  ticks: TickNote[];
}

/**
 * A run of entries in one int32 array, with the option bytes they refer to: a reader's queue,
 * or a batch being filled. A queue grows as records come (room); a batch has its slot's size.
 */
export class Entries {
  i32: Int32Array;
  f64: Float64Array;
  opts: Uint8Array;
  optsLen = 0;

  constructor(entries: number, optBytes = 1024) {
    this.i32 = new Int32Array(entries * STRIDE);
    this.f64 = new Float64Array(this.i32.buffer);
    this.opts = new Uint8Array(optBytes);
  }

  /** Makes room for entry `n` (0-based): a queue grows as a slice's records come in. */
  room(n: number): void {
    if ((n + 1) * STRIDE <= this.i32.length) return;
    const bigger = new Int32Array(Math.max(this.i32.length * 2, (n + 1) * STRIDE));
    bigger.set(this.i32);
    this.i32 = bigger;
    this.f64 = new Float64Array(bigger.buffer);
  }

  /** Appends option bytes; returns where they start. */
  addOpts(src: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.optsLen + len > this.opts.length) {
      const bigger = new Uint8Array(Math.max(this.opts.length * 2, this.optsLen + len));
      bigger.set(this.opts.subarray(0, this.optsLen));
      this.opts = bigger;
    }
    const at = this.optsLen;
    for (let i = 0; i < len; i++) this.opts[at + i] = src[start + i]!;
    this.optsLen += len;
    return at;
  }
}

/** Strings of the entries as table indexes, and the table's growth to send with each batch. */
export class WireStrings {
  readonly table = new StringTable();
  /** Strings already sent with an earlier batch. */
  private sent = 0;
  /** The last string of each field (FIELD_*) and its index. A record's strings are interned
   *  (read/record.ts), so a repeat is the same string: an identity compare instead of a lookup
   *  in the table's map, for MACs nearly always, for addresses often. */
  private readonly last: (string | null)[] = new Array<string | null>(FIELDS).fill(null);
  private readonly lastAt = new Int32Array(FIELDS).fill(-1);

  /** The table index of `s` (-1: null), as field `field` of an entry. */
  at(field: number, s: string | null): number {
    if (s === this.last[field]) return this.lastAt[field]!;
    const i = this.table.of(s);
    this.last[field] = s;
    this.lastAt[field] = i;
    return i;
  }

  /** The strings added since the last call. */
  fresh(): string[] {
    const out = this.table.list.slice(this.sent);
    this.sent = this.table.list.length;
    return out;
  }
}

function packIp(f: IpFields, i32: Int32Array, o: number, strings: WireStrings, field: number): void {
  i32[o + IP_HEAD] = (f.v === 4 ? 0 : V6) | (f.df ? DF : 0) | (f.mf ? MF : 0) | (tri(f.checksumOk) << CSUM_SHIFT) | (f.ttl << 8) | (f.tos << 16) | (f.proto << 24);
  i32[o + IP_SRC] = strings.at(field, f.src);
  i32[o + IP_DST] = strings.at(field + 1, f.dst);
  i32[o + IP_ID] = f.id;
  i32[o + IP_TOTAL_LEN] = f.totalLen;
}

/**
 * Packs record `r` into entry `n` of `e`, all but its corrected time (the judging side
 * subtracts the point's offset again) and what classification fills later (role, c2s: a fresh
 * record's). `captureId` is r.capture's index in `strings`, when the caller knows it.
 */
export function packRecord(r: PacketRecord, e: Entries, n: number, strings: WireStrings, captureId = strings.table.of(r.capture)): void {
  e.room(n);
  const i32 = e.i32;
  const o = n * STRIDE;
  const outer = r.outer;
  e.f64[o >> 1] = r.ts;
  i32[o + POINT] = r.point;
  i32[o + CAPTURE] = captureId;
  i32[o + META] = (outer !== null ? HAS_OUTER : 0) | (r.proto === 'udp' ? UDP : 0) | (directionCode(r.direction) << DIR_SHIFT) | (tri(r.l4ChecksumOk) << L4_SHIFT) | (r.l4ChecksumPartial ? L4_PARTIAL : 0) | (r.mss << MSS_SHIFT);
  i32[o + FRAME] = r.frame;
  i32[o + SRC_MAC] = strings.at(FIELD_SRC_MAC, r.srcMac);
  i32[o + DST_MAC] = strings.at(FIELD_DST_MAC, r.dstMac);
  i32[o + IF_INDEX] = r.ifIndex;
  i32[o + INTERFACE_ID] = r.interfaceId;
  packIp(r.ip, i32, o + IP, strings, FIELD_IP);
  if (outer !== null) packIp(outer, i32, o + OUTER, strings, FIELD_OUTER);
  i32[o + TUNNEL] = strings.at(FIELD_TUNNEL, r.tunnel);
  i32[o + PORTS] = (r.sport << 16) | r.dport;
  i32[o + SEQ] = r.seq;
  i32[o + ACK] = r.ack;
  i32[o + FLAGS_WINDOW] = (r.flags << 16) | r.window;
  i32[o + PAYLOAD_LEN] = r.payloadLen;
  i32[o + HASH] = r.hash;
  i32[o + OPT_SIG] = r.optSig;
  const opts = r.tcpOpts;
  if (opts === null) {
    i32[o + OPTS_AT] = -1;
    i32[o + OPTS_LEN] = 0;
  } else packOptions(e, o, opts, 0, opts.length);
}

/** Gives entry slot `o` of `e` the option bytes src[start, end). */
function packOptions(e: Entries, o: number, src: Uint8Array, start: number, end: number): void {
  e.i32[o + OPTS_AT] = e.addOpts(src, start, end);
  e.i32[o + OPTS_LEN] = end - start;
}

/** The record packPacket extracted last, and the entry it packed it into: keepsEntry asks
 *  about that entry right after, and tests this record instead of reading the entry back. */
const extracted = blankRecord();
let extractedInto: Entries | null = null;
let extractedAt = -1;

/**
 * Packs extractRecord(p, point, withOptions) into entry `n` of `e`; false (nothing written)
 * when it gives no record. `captureId` is p.capture's index in `strings`. The option bytes go
 * from the packet straight into the entry: the range extractRecord would copy (optionsEnd),
 * without the copy.
 */
export function packPacket(p: Packet, point: number, withOptions: boolean, e: Entries, n: number, strings: WireStrings, captureId: number): boolean {
  const r = extractRecord(p, point, false, extracted);
  if (r === null) {
    extractedInto = null;
    return false;
  }
  packRecord(r, e, n, strings, captureId);
  const end = withOptions && r.proto === 'tcp' ? optionsEnd(p, p.transport) : -1;
  if (end >= 0) packOptions(e, n * STRIDE, p.buf, p.transport.tcp.off + 20, end);
  extractedInto = e;
  extractedAt = n;
  return true;
}

/** The records a configured run keeps (read/keep.ts keepForServices). */
export type EntryKeep = (r: PacketRecord) => boolean;

const kept = blankRecord();

/** Whether `keep` keeps the record entry `n` of `e` holds. */
export function keepsEntry(e: Entries, n: number, strings: readonly string[], keep: EntryKeep): boolean {
  if (e === extractedInto && n === extractedAt) return keep(extracted);
  return keep(readEntry(e.i32, e.f64, n * STRIDE, e.opts, strings, null, kept));
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
  /** The batch's option bytes (its entries go straight into the ring slot). */
  private readonly optBytes = new Entries(0, 16 * 1024);
  private slot = 0;
  private count = 0;
  private open = false;
  private ticks: TickNote[] = [];

  constructor(
    private readonly ring: WireRing,
    private readonly strings: WireStrings,
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
    const at = from[s + OPTS_AT]!;
    if (at >= 0) to[d + OPTS_AT] = this.optBytes.addOpts(src.opts, at, at + from[s + OPTS_LEN]!);
  }

  tick(note: TickNote): void {
    const d = this.entry();
    this.ring.i32[d + POINT] = -1 - this.ticks.length;
    this.ticks.push(note);
  }

  /** The batch so far, and the buffers to move with it; the next one goes to the next slot. */
  take(): { batch: RecordBatch; transfer: ArrayBuffer[] } {
    const b = this.optBytes;
    let opts: ArrayBuffer | null = null;
    if (b.optsLen > 0) {
      opts = b.opts.buffer.slice(0, b.optsLen) as ArrayBuffer;
      b.optsLen = 0;
    }
    const batch: RecordBatch = { slot: this.slot, count: this.count, strings: this.strings.fresh(), opts, ticks: this.ticks };
    this.slot = (this.slot + 1) % this.ring.slots;
    this.count = 0;
    this.open = false;
    this.ticks = [];
    return { batch, transfer: opts !== null ? [opts] : [] };
  }
}

function unpackIp(f: IpFields, i32: Int32Array, o: number, strings: readonly string[]): IpFields {
  const head = i32[o + IP_HEAD]!;
  f.v = (head & V6) === 0 ? 4 : 6;
  f.src = strings[i32[o + IP_SRC]!]!;
  f.dst = strings[i32[o + IP_DST]!]!;
  f.ttl = (head >>> 8) & 0xff;
  // Unsigned: an IPv6 fragment header's identification has 32 bits.
  f.id = i32[o + IP_ID]! >>> 0;
  f.df = (head & DF) !== 0;
  f.mf = (head & MF) !== 0;
  f.checksumOk = untri((head >>> CSUM_SHIFT) & 3);
  f.tos = (head >>> 16) & 0xff;
  f.proto = head >>> 24;
  f.totalLen = i32[o + IP_TOTAL_LEN]!;
  return f;
}

/** The string at table index `i` (-1: null). */
function textAt(strings: readonly string[], i: number): string | null {
  return i < 0 ? null : strings[i]!;
}

/** Reads entries back into records (judging side). */
export class RecordUnpacker {
  private readonly strings: string[] = [];
  private opts: Uint8Array | null = null;
  private batch: RecordBatch | null = null;

  constructor(
    private readonly ring: WireRing,
    /** `offsetsNs[point]`: the clock offset a record's corrected time subtracts (read/stream.ts). */
    private readonly offsetsNs: readonly number[],
  ) {}

  /** Takes the next batch: its strings join the table, its entries are read by index. */
  load(batch: RecordBatch): void {
    for (const s of batch.strings) this.strings.push(s);
    this.batch = batch;
    this.opts = batch.opts === null ? null : new Uint8Array(batch.opts);
  }

  /** The tick entry `i` stands for, or null when it is a record. */
  tickAt(i: number): TickNote | null {
    const p = this.ring.i32[this.ring.at(this.batch!.slot, i) + POINT]!;
    return p < 0 ? this.batch!.ticks[-1 - p]! : null;
  }

  /** Entry `i` of the loaded batch as a record (written into `into` when given). */
  record(i: number, into?: PacketRecord): PacketRecord {
    return readEntry(this.ring.i32, this.ring.f64, this.ring.at(this.batch!.slot, i), this.opts, this.strings, this.offsetsNs, into);
  }
}

/** Entry at int32 index `o` as a record; its corrected time subtracts `offsetsNs[point]`
 *  (null: left equal to the capture time). */
export function readEntry(
  i32: Int32Array,
  f64: Float64Array,
  o: number,
  opts: Uint8Array | null,
  strings: readonly string[],
  offsetsNs: readonly number[] | null,
  into?: PacketRecord,
): PacketRecord {
  const r = into ?? blankRecord();
  const ts = f64[o >> 1]!;
  r.point = i32[o + POINT]!;
  r.capture = strings[i32[o + CAPTURE]!]!;
  r.frame = i32[o + FRAME]!;
  r.ts = ts;
  r.t = offsetsNs === null ? ts : ts - offsetsNs[r.point]!;
  const meta = i32[o + META]!;
  r.srcMac = textAt(strings, i32[o + SRC_MAC]!);
  r.dstMac = textAt(strings, i32[o + DST_MAC]!);
  r.direction = DIRECTIONS[(meta >>> DIR_SHIFT) & 3]!;
  r.ifIndex = i32[o + IF_INDEX]!;
  r.interfaceId = i32[o + INTERFACE_ID]!;
  unpackIp(r.ip, i32, o + IP, strings);
  r.outer = (meta & HAS_OUTER) === 0 ? null : unpackIp(r.outer ?? blankIp(), i32, o + OUTER, strings);
  r.tunnel = textAt(strings, i32[o + TUNNEL]!);
  r.proto = (meta & UDP) === 0 ? 'tcp' : 'udp';
  const ports = i32[o + PORTS]!;
  r.sport = ports >>> 16;
  r.dport = ports & 0xffff;
  // seq and ack are unsigned 32-bit numbers: stored as int32, read back unsigned.
  r.seq = i32[o + SEQ]! >>> 0;
  r.ack = i32[o + ACK]! >>> 0;
  const fw = i32[o + FLAGS_WINDOW]!;
  r.flags = fw >>> 16;
  r.window = fw & 0xffff;
  r.payloadLen = i32[o + PAYLOAD_LEN]!;
  r.hash = i32[o + HASH]!;
  r.optSig = i32[o + OPT_SIG]!;
  const at = i32[o + OPTS_AT]!;
  r.tcpOpts = at < 0 ? null : opts!.slice(at, at + i32[o + OPTS_LEN]!);
  r.l4ChecksumOk = untri((meta >>> L4_SHIFT) & 3);
  r.l4ChecksumPartial = (meta & L4_PARTIAL) !== 0;
  r.mss = meta >>> MSS_SHIFT;
  r.role = null;
  r.c2s = true;
  return r;
}
