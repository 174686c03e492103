/**
 * Packet records (engine/record.ts) in packed form, for the trip from the feeder thread, which
 * reads and decodes the captures, to the thread that judges them (verify/parallel/feeder.ts).
 *
 * The feeder never builds a PacketRecord: `packPacket` writes what extractRecord would put in
 * one straight from the decoded packet view into an *entry* of STRIDE int32 slots (the capture
 * time a float64 over the first two): IPv4 addresses and MACs as numbers (the judging side turns
 * them into its own interned text), other strings as indexes into a table that grows on both
 * sides (file names, tunnel kinds, IPv6 addresses: each crosses once), TCP option bytes as a
 * range of a byte array. Entries wait in their reader's queue (PackingReader) until the merge
 * copies them into a batch in a ring of batch slots shared by both threads (WireRing: nothing is
 * allocated or copied per batch but the entries); the judging side reads each back into a
 * record (RecordUnpacker). test/verify/record-wire.test.ts checks that what comes out equals
 * extractRecord's record for every frame of the committed captures and for mutated frames.
 *
 * An entry whose point slot is negative is not a record but a tick of the merge (the
 * connection-judging sweeps of engine/stream.ts mergeReaders), numbered into `RecordBatch.ticks`:
 * ticks and records keep the one order the merge gave them.
 */
import type { Direction } from '../../decode/frame.js';
import { ipv6ToString } from '../../decode/addr.js';
import type { IpView, NetLayers, Packet } from '../../decode/packet.js';
import type { AnswerNote } from '../read/director-answers.js';
import { blankIp, blankRecord, ip4, macHiOf, macLoOf, macOf, optionsEnd, optionsHash, recordPayloadHash, recordPayloadLen, transportOf } from '../read/record.js';
import type { IpFields, PacketRecord } from '../model/record.js';
import { StringTable } from './string-table.js';

/** int32 slots per entry (even: the float64 capture time sits on slots 0–1). Small fields share
 *  slots: every entry is copied once more, from its reader's queue into the ring, and 46 slots
 *  of one field each cost the feeder more than the bit work of 32. */
export const STRIDE = 32;

// Slot numbers. An IP header takes 5 slots from IP (inner) and OUTER.
const POINT = 2;
const CAPTURE = 3;
const FRAME = 4;
/** Bits: HAS_MACS, HAS_OUTER, UDP; the direction (from DIR_SHIFT) and the L4 checksum verdict
 *  (from L4_SHIFT), two bits each. */
const META = 5;
const SRC_MAC_HI = 6;
const SRC_MAC_LO = 7;
const DST_MAC_HI = 8;
const DST_MAC_LO = 9;
const IF_INDEX = 10;
const INTERFACE_ID = 11;
const IP = 12;
const OUTER = 17;
const TUNNEL = 22;
/** sport << 16 | dport. */
const PORTS = 23;
const SEQ = 24;
const ACK = 25;
/** TCP flags << 16 | window. */
const FLAGS_WINDOW = 26;
const PAYLOAD_LEN = 27;
const HASH = 28;
const OPT_SIG = 29;
/** Where the entry's option bytes start in its byte array (-1: none), and how many. */
const OPTS_AT = 30;
const OPTS_LEN = 31;

const HAS_MACS = 1;
const HAS_OUTER = 2;
const UDP = 4;
const DIR_SHIFT = 3;
const L4_SHIFT = 5;

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
 * A run of entries in one int32 array, with the option bytes they refer to: a reader's queue,
 * or a batch being filled. Grows when `grow` (a queue); a batch has its slot's fixed size.
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

  /** The strings added since the last call. */
  fresh(): string[] {
    const out = this.table.list.slice(this.sent);
    this.sent = this.table.list.length;
    return out;
  }
}

function packIp(v: IpView, buf: Uint8Array, i32: Int32Array, o: number, strings: WireStrings): void {
  const v4 = v.version === 4;
  i32[o + IP_HEAD] = (v4 ? 0 : V6) | (v.df ? DF : 0) | (v.mf ? MF : 0) | (tri(v.checksumOk) << CSUM_SHIFT) | (v.ttl << 8) | (v.tos << 16) | (v.proto << 24);
  i32[o + IP_SRC] = v4 ? v.src4 : strings.table.of(ipv6ToString(buf, v.srcOff));
  i32[o + IP_DST] = v4 ? v.dst4 : strings.table.of(ipv6ToString(buf, v.dstOff));
  i32[o + IP_ID] = v.id;
  i32[o + IP_TOTAL_LEN] = v.totalLen;
}

/**
 * Packs the record extractRecord(p, point, withOptions) would give into entry `n` of `e`;
 * false (nothing written) when it gives none. `captureId` is p.capture's index in `strings`.
 * Keep the two in step: the wire test compares them frame by frame.
 */
export function packPacket(p: Packet, point: number, withOptions: boolean, e: Entries, n: number, strings: WireStrings, captureId: number): boolean {
  const l: NetLayers | null = transportOf(p);
  if (!l) return false;
  e.room(n);
  const i32 = e.i32;
  const o = n * STRIDE;
  const buf = p.buf;
  const isTcp = l.l4 === 'tcp';
  const tcp = l.tcp;
  const udp = l.udp;
  const tunnelled = p.tunnel !== null && p.inner.present;
  e.f64[o >> 1] = p.tsSec * 1e9 + p.tsNsec;
  i32[o + POINT] = point;
  i32[o + CAPTURE] = captureId;
  i32[o + FRAME] = p.frame;
  const dir = p.direction === null ? 0 : p.direction === 'in' ? 1 : 2;
  const l4Ok = tri(isTcp ? tcp.checksumOk : udp.checksumOk);
  i32[o + META] = (p.eth.present ? HAS_MACS : 0) | (tunnelled ? HAS_OUTER : 0) | (isTcp ? 0 : UDP) | (dir << DIR_SHIFT) | (l4Ok << L4_SHIFT);
  if (p.eth.present) {
    i32[o + SRC_MAC_HI] = macHiOf(buf, p.eth.srcOff);
    i32[o + SRC_MAC_LO] = macLoOf(buf, p.eth.srcOff);
    i32[o + DST_MAC_HI] = macHiOf(buf, p.eth.dstOff);
    i32[o + DST_MAC_LO] = macLoOf(buf, p.eth.dstOff);
  }
  i32[o + IF_INDEX] = p.sll.present ? p.sll.ifIndex : -1;
  i32[o + INTERFACE_ID] = p.interfaceId;
  packIp(l.ip, buf, i32, o + IP, strings);
  if (tunnelled) packIp(p.net.ip, buf, i32, o + OUTER, strings);
  i32[o + TUNNEL] = tunnelled ? strings.table.of(p.tunnel) : -1;
  i32[o + PORTS] = isTcp ? (tcp.sport << 16) | tcp.dport : (udp.sport << 16) | udp.dport;
  i32[o + SEQ] = isTcp ? tcp.seq : 0;
  i32[o + ACK] = isTcp ? tcp.ack : 0;
  i32[o + FLAGS_WINDOW] = isTcp ? (tcp.flags << 16) | tcp.window : 0;
  i32[o + PAYLOAD_LEN] = recordPayloadLen(l);
  i32[o + HASH] = recordPayloadHash(p, l);
  i32[o + OPT_SIG] = isTcp ? optionsHash(p, l) : 0;
  const optEnd = isTcp && withOptions ? optionsEnd(p, l) : -1;
  if (optEnd < 0) {
    i32[o + OPTS_AT] = -1;
    i32[o + OPTS_LEN] = 0;
  } else {
    const start = tcp.off + 20;
    i32[o + OPTS_AT] = e.addOpts(buf, start, optEnd);
    i32[o + OPTS_LEN] = optEnd - start;
  }
  return true;
}

/** The addresses and ports a configured run keeps records of (prepare.ts keepForServices), as
 *  packed entries name them: IPv4 as int32, IPv6 as text. */
export interface EntryKeep {
  v4: ReadonlySet<number>;
  v6: ReadonlySet<string>;
  ports: ReadonlySet<number>;
}

function keepsAddr(i32: Int32Array, ip: number, slot: number, strings: readonly string[], keep: EntryKeep): boolean {
  const a = i32[ip + slot]!;
  return (i32[ip + IP_HEAD]! & V6) === 0 ? keep.v4.has(a) : keep.v6.has(strings[a]!);
}

/** Whether entry `n` of `e` names a kept address (inner, or outer when tunnelled) or port: the
 *  test keepForServices makes of a record. */
export function keepsEntry(e: Entries, n: number, strings: readonly string[], keep: EntryKeep): boolean {
  const i32 = e.i32;
  const o = n * STRIDE;
  if (keepsAddr(i32, o + IP, IP_SRC, strings, keep) || keepsAddr(i32, o + IP, IP_DST, strings, keep)) return true;
  if ((i32[o + META]! & HAS_OUTER) !== 0 && (keepsAddr(i32, o + OUTER, IP_SRC, strings, keep) || keepsAddr(i32, o + OUTER, IP_DST, strings, keep))) return true;
  const ports = i32[o + PORTS]!;
  return keep.ports.has(ports >>> 16) || keep.ports.has(ports & 0xffff);
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
 * itself: filling a batch of the thread's own and copying it into the slot whole measured
 * slower (the feeder's time 0.88–1.2 s against 0.72–1.07 s, runs paired).
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
  const v4 = (head & V6) === 0;
  const src = i32[o + IP_SRC]!;
  const dst = i32[o + IP_DST]!;
  f.v = v4 ? 4 : 6;
  f.src = v4 ? ip4(src) : strings[src]!;
  f.dst = v4 ? ip4(dst) : strings[dst]!;
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

/** Reads entries back into records (judging side). */
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
    return readEntry(this.ring.i32, this.ring.f64, this.ring.at(this.batch!.slot, i), this.opts, this.strings, this.offsetsNs, into);
  }
}

/** Entry at int32 index `o` as a record. */
export function readEntry(
  i32: Int32Array,
  f64: Float64Array,
  o: number,
  opts: Uint8Array | null,
  strings: readonly string[],
  offsetsNs: readonly number[],
  into?: PacketRecord,
): PacketRecord {
  const r = into ?? blankRecord();
  const ts = f64[o >> 1]!;
  r.point = i32[o + POINT]!;
  r.capture = strings[i32[o + CAPTURE]!]!;
  r.frame = i32[o + FRAME]!;
  r.ts = ts;
  r.t = ts - offsetsNs[r.point]!;
  const meta = i32[o + META]!;
  const macs = (meta & HAS_MACS) !== 0;
  r.srcMac = macs ? macOf(i32[o + SRC_MAC_HI]!, i32[o + SRC_MAC_LO]!) : null;
  r.dstMac = macs ? macOf(i32[o + DST_MAC_HI]!, i32[o + DST_MAC_LO]!) : null;
  r.direction = DIRECTIONS[(meta >>> DIR_SHIFT) & 3]!;
  r.ifIndex = i32[o + IF_INDEX]!;
  r.interfaceId = i32[o + INTERFACE_ID]!;
  unpackIp(r.ip, i32, o + IP, strings);
  r.outer = (meta & HAS_OUTER) === 0 ? null : unpackIp(r.outer ?? blankIp(), i32, o + OUTER, strings);
  const tu = i32[o + TUNNEL]!;
  r.tunnel = tu < 0 ? null : strings[tu]!;
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
  r.role = null;
  r.c2s = true;
  return r;
}
