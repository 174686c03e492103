/**
 * Packet records (engine/record.ts) packed into typed arrays, for the trip from the feeder
 * thread, which reads and decodes the captures, to the thread that judges them
 * (verify/parallel/feeder.ts). Structured clone would write every property name of every
 * record again; here a record is STRIDE int32 slots (its capture time a float64 over the first
 * two) in a ring of batch slots shared by both threads (a WireRing: nothing is allocated or
 * copied per batch), IPv4 addresses are numbers (the judging side turns them into its own
 * interned text), other strings indexes into a table that grows on both sides (each distinct
 * MAC, file name or IPv6 address crosses once), and TCP option bytes a range of one byte array
 * moved with the batch.
 *
 * An entry whose point slot is negative is not a record but a tick of the merge (the
 * connection-judging sweeps of engine/stream.ts mergeReaders), numbered into `RecordBatch.ticks`:
 * ticks and records keep the one order the merge gave them.
 */
import type { Direction } from '../../decode/frame.js';
import type { AnswerNote } from './director-answers.js';
import { blankIp, blankRecord, ip4, type IpFields, type PacketRecord } from './record.js';
import { StringTable } from './string-table.js';

/** int32 slots per entry (even: the float64 capture time sits on slots 0–1). */
export const STRIDE = 44;

// Slot numbers. IP header fields occupy IP_FIELDS slots from IP (inner) and OUTER.
const POINT = 2;
const CAPTURE = 3;
const FRAME = 4;
const SRC_MAC = 5;
const DST_MAC = 6;
const DIRECTION = 7;
const IF_INDEX = 8;
const INTERFACE_ID = 9;
const IP = 10;
const HAS_OUTER = 19;
const OUTER = 20;
const TUNNEL = 29;
const PROTO = 30;
const SPORT = 31;
const DPORT = 32;
const SEQ = 33;
const ACK = 34;
const FLAGS = 35;
const WINDOW = 36;
const PAYLOAD_LEN = 37;
const HASH = 38;
const OPT_SIG = 39;
const OPTS_AT = 40;
const OPTS_LEN = 41;
const L4_CHECKSUM = 42;

const IP_V = 0;
const IP_SRC = 1;
const IP_DST = 2;
const IP_TTL = 3;
const IP_ID = 4;
const IP_BITS = 5;
const IP_TOS = 6;
const IP_PROTO = 7;
const IP_TOTAL_LEN = 8;

const DF = 1;
const MF = 2;

/** A checksum verdict: 0 not checked (null), 1 good, 2 bad. */
function tri(v: boolean | null): number {
  return v === null ? 0 : v ? 1 : 2;
}
function untri(v: number): boolean | null {
  return v === 0 ? null : v === 1;
}

const DIRECTIONS: readonly Direction[] = [null, 'in', 'out'];

/** What the judging thread needs at a tick besides its time (verify/parallel/feeder.ts). */
export interface TickNote {
  now: number;
  /** Per point: frames, first and last capture time so far (3 numbers each). */
  extents: number[];
  /** Director answers noted since the previous tick (engine/director-answers.ts). */
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
 * Ids of a few recent strings, looked up by identity before the table's map: a capture point
 * has a handful of MACs and files, and the records' strings are interned (engine/record.ts), so
 * an identity hit is the common case and costs a compare instead of a hash lookup.
 */
class RecentIds {
  private readonly keys: (string | null)[] = [null, null, null, null, null, null, null, null];
  private readonly ids = new Int32Array(8);
  private next = 0;
  constructor(private readonly table: StringTable) {}

  of(s: string | null): number {
    if (s === null) return -1;
    const keys = this.keys;
    for (let i = 0; i < 8; i++) if (keys[i] === s) return this.ids[i]!;
    const id = this.table.of(s);
    keys[this.next] = s;
    this.ids[this.next] = id;
    this.next = (this.next + 1) & 7;
    return id;
  }
}

function packIp(f: IpFields, i32: Int32Array, o: number, strings: StringTable): void {
  const v4 = f.v === 4;
  i32[o + IP_V] = f.v;
  i32[o + IP_SRC] = v4 ? f.src4 : strings.of(f.src);
  i32[o + IP_DST] = v4 ? f.dst4 : strings.of(f.dst);
  i32[o + IP_TTL] = f.ttl;
  i32[o + IP_ID] = f.id;
  i32[o + IP_BITS] = (f.df ? DF : 0) | (f.mf ? MF : 0) | (tri(f.checksumOk) << 2);
  i32[o + IP_TOS] = f.tos;
  i32[o + IP_PROTO] = f.proto;
  i32[o + IP_TOTAL_LEN] = f.totalLen;
}

function unpackIp(f: IpFields, i32: Int32Array, o: number, strings: readonly string[]): IpFields {
  const v4 = i32[o + IP_V] !== 6;
  const src = i32[o + IP_SRC]!;
  const dst = i32[o + IP_DST]!;
  f.v = v4 ? 4 : 6;
  f.src = v4 ? ip4(src) : strings[src]!;
  f.dst = v4 ? ip4(dst) : strings[dst]!;
  f.src4 = v4 ? src : 0;
  f.dst4 = v4 ? dst : 0;
  f.ttl = i32[o + IP_TTL]!;
  f.id = i32[o + IP_ID]!;
  const bits = i32[o + IP_BITS]!;
  f.df = (bits & DF) !== 0;
  f.mf = (bits & MF) !== 0;
  f.checksumOk = untri(bits >> 2);
  f.tos = i32[o + IP_TOS]!;
  f.proto = i32[o + IP_PROTO]!;
  f.totalLen = i32[o + IP_TOTAL_LEN]!;
  return f;
}

const INITIAL_OPT_BYTES = 16 * 1024;

/**
 * Packs records and ticks into the ring's slots, one batch per slot in turn (feeder side). The
 * caller takes the batch when it holds `ring.entries` entries, or at the end; `acquire` is
 * called before a batch's first entry is written and returns once that slot is free.
 */
export class RecordPacker {
  private readonly strings = new StringTable();
  private readonly recent = new RecentIds(this.strings);
  /** Strings already sent with an earlier batch. */
  private sent = 0;
  private slot = 0;
  private count = 0;
  private open = false;
  private opts = new Uint8Array(INITIAL_OPT_BYTES);
  private optsLen = 0;
  private ticks: TickNote[] = [];
  /** The batch is written here, then copied into its ring slot whole: stores into memory
   *  shared between threads measured slower, one by one, than into the thread's own. */
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(
    private readonly ring: WireRing,
    private readonly acquire: () => void = () => {},
  ) {
    this.i32 = new Int32Array(ring.entries * STRIDE);
    this.f64 = new Float64Array(this.i32.buffer);
  }

  get size(): number {
    return this.count;
  }

  /** Whether the batch has no room left. */
  get full(): boolean {
    return this.count >= this.ring.entries;
  }

  private entry(): number {
    if (!this.open) {
      this.acquire();
      this.open = true;
    }
    if (this.count >= this.ring.entries) throw new Error('RecordPacker: batch full (take it first)');
    return this.count++ * STRIDE;
  }

  add(r: PacketRecord): void {
    const o = this.entry();
    const i32 = this.i32;
    const strings = this.strings;
    const recent = this.recent;
    this.f64[o >> 1] = r.ts;
    i32[o + POINT] = r.point;
    i32[o + CAPTURE] = recent.of(r.capture);
    i32[o + FRAME] = r.frame;
    i32[o + SRC_MAC] = recent.of(r.srcMac);
    i32[o + DST_MAC] = recent.of(r.dstMac);
    i32[o + DIRECTION] = r.direction === null ? 0 : r.direction === 'in' ? 1 : 2;
    i32[o + IF_INDEX] = r.ifIndex;
    i32[o + INTERFACE_ID] = r.interfaceId;
    packIp(r.ip, i32, o + IP, strings);
    i32[o + HAS_OUTER] = r.outer === null ? 0 : 1;
    if (r.outer !== null) packIp(r.outer, i32, o + OUTER, strings);
    i32[o + TUNNEL] = recent.of(r.tunnel);
    i32[o + PROTO] = r.proto === 'tcp' ? 0 : 1;
    i32[o + SPORT] = r.sport;
    i32[o + DPORT] = r.dport;
    i32[o + SEQ] = r.seq;
    i32[o + ACK] = r.ack;
    i32[o + FLAGS] = r.flags;
    i32[o + WINDOW] = r.window;
    i32[o + PAYLOAD_LEN] = r.payloadLen;
    i32[o + HASH] = r.hash;
    i32[o + OPT_SIG] = r.optSig;
    const opts = r.tcpOpts;
    if (opts === null) {
      i32[o + OPTS_AT] = -1;
      i32[o + OPTS_LEN] = 0;
    } else {
      if (this.optsLen + opts.length > this.opts.length) {
        const bigger = new Uint8Array(Math.max(this.opts.length * 2, this.optsLen + opts.length));
        bigger.set(this.opts.subarray(0, this.optsLen));
        this.opts = bigger;
      }
      this.opts.set(opts, this.optsLen);
      i32[o + OPTS_AT] = this.optsLen;
      i32[o + OPTS_LEN] = opts.length;
      this.optsLen += opts.length;
    }
    i32[o + L4_CHECKSUM] = tri(r.l4ChecksumOk);
  }

  tick(note: TickNote): void {
    const o = this.entry();
    this.i32[o + POINT] = -1 - this.ticks.length;
    this.ticks.push(note);
  }

  /** The batch so far, and the buffers to move with it; the next one goes to the next slot. */
  take(): { batch: RecordBatch; transfer: ArrayBuffer[] } {
    const opts = this.optsLen > 0 ? (this.opts.buffer as ArrayBuffer) : null;
    if (this.open) this.ring.i32.set(this.i32.subarray(0, this.count * STRIDE), this.ring.at(this.slot, 0));
    const batch: RecordBatch = { slot: this.slot, count: this.count, strings: this.strings.list.slice(this.sent), opts, ticks: this.ticks };
    this.sent = this.strings.list.length;
    this.slot = (this.slot + 1) % this.ring.slots;
    this.count = 0;
    this.open = false;
    if (opts !== null) this.opts = new Uint8Array(INITIAL_OPT_BYTES);
    this.optsLen = 0;
    this.ticks = [];
    return { batch, transfer: opts !== null ? [opts] : [] };
  }
}

/** Reads batches back into records (judging side), in entry order. */
export class RecordUnpacker {
  private readonly strings: string[] = [];
  private opts: Uint8Array | null = null;
  private batch: RecordBatch | null = null;

  constructor(
    private readonly ring: WireRing,
    /** `offsetsNs[point]`: the clock offset a record's corrected time subtracts (engine/stream.ts). */
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
    const i32 = this.ring.i32;
    const strings = this.strings;
    const o = this.ring.at(this.batch!.slot, i);
    const r = into ?? blankRecord();
    const ts = this.ring.f64[o >> 1]!;
    r.point = i32[o + POINT]!;
    r.capture = strings[i32[o + CAPTURE]!]!;
    r.frame = i32[o + FRAME]!;
    r.ts = ts;
    r.t = ts - this.offsetsNs[r.point]!;
    const sm = i32[o + SRC_MAC]!;
    const dm = i32[o + DST_MAC]!;
    r.srcMac = sm < 0 ? null : strings[sm]!;
    r.dstMac = dm < 0 ? null : strings[dm]!;
    r.direction = DIRECTIONS[i32[o + DIRECTION]!]!;
    r.ifIndex = i32[o + IF_INDEX]!;
    r.interfaceId = i32[o + INTERFACE_ID]!;
    unpackIp(r.ip, i32, o + IP, strings);
    r.outer = i32[o + HAS_OUTER] === 0 ? null : unpackIp(r.outer ?? blankIp(), i32, o + OUTER, strings);
    const tu = i32[o + TUNNEL]!;
    r.tunnel = tu < 0 ? null : strings[tu]!;
    r.proto = i32[o + PROTO] === 0 ? 'tcp' : 'udp';
    r.sport = i32[o + SPORT]!;
    r.dport = i32[o + DPORT]!;
    // seq and ack are unsigned 32-bit numbers: stored as int32, read back unsigned.
    r.seq = i32[o + SEQ]! >>> 0;
    r.ack = i32[o + ACK]! >>> 0;
    r.flags = i32[o + FLAGS]!;
    r.window = i32[o + WINDOW]!;
    r.payloadLen = i32[o + PAYLOAD_LEN]!;
    r.hash = i32[o + HASH]!;
    r.optSig = i32[o + OPT_SIG]!;
    const at = i32[o + OPTS_AT]!;
    r.tcpOpts = at < 0 ? null : this.opts!.slice(at, at + i32[o + OPTS_LEN]!);
    r.l4ChecksumOk = untri(i32[o + L4_CHECKSUM]!);
    r.role = null;
    r.c2s = true;
    return r;
  }
}
