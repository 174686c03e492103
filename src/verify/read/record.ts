/**
 * The compact copy of one decoded packet that the verify engine keeps. The decoder's `Packet`
 * is a reused view over a buffer that the reader recycles, so everything rules need later is
 * copied out, once, and only for packets that concern the service: the addresses, the
 * invariants the correlator matches on (IP ID, TCP seq/ack/flags, payload length and a 32-bit
 * payload hash), and the fields rules compare across points (TTL, DF, TOS, MACs, checksum
 * verdicts, tunnel outer header).
 *
 * A record has one description, in two forms kept here side by side: packed (an *entry*:
 * int32 slots, no object, no string), which `packPacket` writes straight from the packet view,
 * and the PacketRecord object (model/record.ts) that correlation and the rules read, which
 * `readEntry` makes from an entry and from nothing else. Readers queue entries and make the
 * record only when the merge takes it (read/stream.ts); anything that carries records
 * elsewhere carries entries. extractRecord is the two steps at once.
 */
import { ipv4ToString, ipv6ToString, macToString } from '../../decode/addr.js';
import type { Direction } from '../../decode/frame.js';
import { UoaMode, type IpView, type NetLayers, type Packet, type TunnelKind } from '../../decode/packet.js';
import type { IpFields, PacketRecord, PacketRef } from '../model/record.js';

export function blankIp(): IpFields {
  return { v: 4, src: '', dst: '', ttl: 0, id: 0, flow: 0, df: false, mf: false, tos: 0, proto: 0, totalLen: 0, checksumOk: null };
}

/** A record with every field present (one object shape for fresh and reused records);
 *  readEntry overwrites them all. */
export function blankRecord(): PacketRecord {
  return {
    point: 0, capture: '', frame: 0, ts: 0, t: 0, srcMac: null, dstMac: null, direction: null, ifIndex: -1, interfaceId: 0,
    ip: blankIp(), outer: null, tunnel: null, proto: 'tcp', sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, window: 0,
    payloadLen: 0, hash: 0, optSig: 0, tcpOpts: null, uoaMode: 0, uoa: null, l4ChecksumOk: null, l4ChecksumPartial: false, mss: 0, role: null, c2s: true,
  };
}

/**
 * FNV-1a over the payload, folded to 31 bits: cheap, good enough to tell payloads apart inside a
 * time window, and a non-negative small integer (V8 keeps it unboxed in the record, and -1 stays
 * free to mean "payload cut by snaplen"). Four bytes are combined per multiply: a quarter of the
 * multiplications of the byte-wise form, the same quality for this purpose.
 */
export function payloadHash(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  let i = off;
  const end = off + len;
  const end4 = off + (len & ~3);
  while (i < end4) {
    h ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    h = Math.imul(h, 0x01000193);
    h ^= h >>> 15;
    i += 4;
  }
  while (i < end) {
    h ^= buf[i++]!;
    h = Math.imul(h, 0x01000193);
  }
  return h & 0x7fffffff;
}

/** Where the TCP option bytes a record keeps end (they start at tcp.off + 20), or -1 for none.
 *  By header length, not by decoded options: a malformed option (a TOA with a bad length byte)
 *  is exactly what the FullNAT rules must see. */
export function optionsEnd(p: Packet, l: NetLayers): number {
  const t = l.tcp;
  if (t.hdrLen <= 20) return -1;
  const end = Math.min(t.off + t.hdrLen, p.end);
  return end > t.off + 20 ? end : -1;
}

export function optionsHash(p: Packet, l: NetLayers): number {
  const t = l.tcp;
  if (t.optCount === 0) return 0;
  const start = t.off + 20;
  // Options cut by the snap length: -1, never compared (as a payload's hash).
  if (t.off + t.hdrLen > p.end) return -1;
  const end = t.off + t.hdrLen;
  return end > start ? payloadHash(p.buf, start, end - start) : 0;
}

// Address and MAC texts repeat across millions of packets: intern them so each record points at
// one shared string instead of allocating its own (the records dominate verify's memory).
// A small direct-mapped cache sits in front of each intern map: a capture point sees a few
// MACs and service addresses over and over, and the cache keys live in Int32Arrays because a
// number above 2^31 kept in a variable or passed as a Map key is a heap allocation each time.
// The sizes are a const enum for the reason the entry layout is (below).
const enum Intern {
  MAX = 1 << 16,
  IP_SLOTS = 256,
  MAC_SLOTS = 64,
}
const ip4Text = new Map<number, string>();
const macText = new Map<string, string>();
const ipKey = new Int32Array(Intern.IP_SLOTS).fill(-1);
const ipVal: string[] = new Array<string>(Intern.IP_SLOTS).fill('');
const macHi = new Int32Array(Intern.MAC_SLOTS).fill(-1);
const macLo = new Int32Array(Intern.MAC_SLOTS);
const macVal: string[] = new Array<string>(Intern.MAC_SLOTS).fill('');

/** The text of an IPv4 address (uint32 or int32), interned. */
export function ip4(a: number): string {
  const key = a | 0;
  const slot = a & (Intern.IP_SLOTS - 1);
  // 255.255.255.255 is -1 as int32, the empty-slot mark: it just always misses.
  if (ipKey[slot] === key && key !== -1) return ipVal[slot]!;
  // Keyed by the int32 form: the same address as uint32 or int32 finds the same entry.
  let s = ip4Text.get(key);
  if (s === undefined) {
    s = ipv4ToString(key);
    if (ip4Text.size < Intern.MAX) ip4Text.set(key, s);
  }
  ipKey[slot] = key;
  ipVal[slot] = s;
  return s;
}

/** A MAC address as two numbers: its first two bytes, and its last four as an int32. */
export function macHiOf(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
export function macLoOf(buf: Uint8Array, off: number): number {
  return (buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
}

const macBytes = new Uint8Array(6);

/** The text of a MAC address given as macHiOf / macLoOf, interned. */
export function macOf(hi: number, lo: number): string {
  const slot = (lo ^ (lo >>> 8) ^ hi) & (Intern.MAC_SLOTS - 1);
  if (macHi[slot] === hi && macLo[slot] === lo) return macVal[slot]!;
  macBytes[0] = hi >>> 8;
  macBytes[1] = hi;
  macBytes[2] = lo >>> 24;
  macBytes[3] = lo >>> 16;
  macBytes[4] = lo >>> 8;
  macBytes[5] = lo;
  const text = macToString(macBytes, 0);
  let s = macText.get(text);
  if (s === undefined) {
    s = text;
    if (macText.size < Intern.MAX) macText.set(text, s);
  }
  macHi[slot] = hi;
  macLo[slot] = lo;
  macVal[slot] = s;
  return s;
}

/** Addresses of a transport stack as text, or null when it carries no IPv4/IPv6 TCP/UDP. */
export function transportOf(p: Packet): NetLayers | null {
  const l = p.transport;
  if (!l.present) return null;
  if (l.l4 !== 'tcp' && l.l4 !== 'udp') return null;
  if (l.ip.isFragment && l.ip.fragOffset !== 0) return null;
  // A capture cut inside the TCP base header (a port mirror truncating, a tiny snap length)
  // leaves the flags and acknowledgement unknown: nothing to match or judge such a copy on.
  if (l.l4 === 'tcp' && l.tcp.hdrLen === 0) return null;
  return l;
}

/** True when the snap length (or a mirror's truncation) cut the TCP header itself: the decoder
 *  then leaves the payload's wire length unset, and the IP length still tells it. */
const tcpHeaderCut = (l: NetLayers): boolean => l.tcp.off + l.tcp.hdrLen > l.tcp.payloadOff;

/** The payload length a record keeps: the transport's length on the wire, which is more than
 *  the captured bytes when snaplen cut them. */
export function recordPayloadLen(l: NetLayers): number {
  if (l.l4 === 'tcp' && tcpHeaderCut(l)) return Math.max(0, l.ip.payloadWireLen - l.tcp.hdrLen);
  return l.l4 === 'tcp' ? Math.max(l.tcp.payloadWireLen, l.tcp.payloadLen) : Math.max(l.udp.length - 8, l.udp.payloadLen);
}

/** The payload hash a record keeps: -1 when snaplen cut the payload (or the header before it). */
export function recordPayloadHash(p: Packet, l: NetLayers): number {
  const isTcp = l.l4 === 'tcp';
  if (isTcp && tcpHeaderCut(l)) return -1;
  const pl = isTcp ? l.tcp.payloadLen : l.udp.payloadLen;
  const wireLen = isTcp ? l.tcp.payloadWireLen : l.udp.length - 8;
  return pl < wireLen ? -1 : payloadHash(p.buf, isTcp ? l.tcp.payloadOff : l.udp.payloadOff, pl);
}

// ---------------------------------------------------------------------------------------------
// The packed form. An entry is STRIDE int32 slots (the capture time a float64 over slots 0–1)
// and, when it needs them, a run of bytes in its Entries' byte array: the 16-byte IPv6
// addresses, then the TCP option bytes. Strings are not stored: IPv4 addresses and MACs are
// numbers that readEntry turns into interned text (ip4, macOf), IPv6 addresses are bytes, the
// tunnel kind a code, the capture file an index into the caller's list of files.

// The layout is in const enums: tsc writes their numbers where they are used, so packing and
// reading an entry load no variable for them (this module is initialised lazily in the
// bundle, which makes its top-level constants variables there).

/** Slot numbers of an entry. An IP header takes 5 slots from IP (inner) and OUTER. */
const enum Slot {
  /** int32 slots per entry (even: the float64 capture time sits on slots 0–1). Small fields
   *  share slots, as entries are copied whole (a reader's queue into another buffer). */
  COUNT = 32,
  /** The point's index; never negative for a record, so a holder of entries may mark other
   *  items there with negative numbers. */
  POINT = 2,
  CAPTURE = 3,
  FRAME = 4,
  /** Bits (Meta): whether MACs and an outer header are there, UDP; the direction and the L4
   *  checksum verdict, two bits each; the tunnel kind (an index in TUNNELS). */
  META = 5,
  SRC_MAC_HI = 6,
  SRC_MAC_LO = 7,
  DST_MAC_HI = 8,
  DST_MAC_LO = 9,
  IF_INDEX = 10,
  INTERFACE_ID = 11,
  IP = 12,
  OUTER = 17,
  /** sport << 16 | dport. */
  PORTS = 22,
  SEQ = 23,
  ACK = 24,
  /** TCP flags << 16 | window. */
  FLAGS_WINDOW = 25,
  PAYLOAD_LEN = 26,
  HASH = 27,
  OPT_SIG = 28,
  /** Where the entry's bytes start in its Entries' byte array (-1: none), and how many there
   *  are; the TCP option bytes are the last OPTS_LEN of them. */
  BYTES_AT = 29,
  BYTES_LEN = 30,
  OPTS_LEN = 31,
}

const enum Meta {
  HAS_MACS = 1,
  HAS_OUTER = 2,
  UDP = 4,
  DIR_SHIFT = 3,
  L4_SHIFT = 5,
  TUNNEL_SHIFT = 7,
  /** The L4 checksum is the partial pseudo-header sum (TX offload). */
  L4_PARTIAL = 1 << 10,
  /** DPVS's UOA mode on a UDP datagram (UoaMode: 0 none, 1 ipo, 2 opp), bits 11–12. */
  UOA_SHIFT = 11,
  /** The MSS option of a SYN or SYN-ACK, in the high 16 bits. */
  MSS_SHIFT = 16,
}

/** An IP header's slots: HEAD packs IPv6 (bit 0), DF, MF, the checksum verdict (bits 3–4),
 *  TTL (bits 8–15), TOS (16–23) and protocol (24–31). IPv4: SRC and DST hold the addresses.
 *  IPv6: SRC is where the 32 address bytes (source, then destination) start in the entry's
 *  bytes, DST holds the flow label. */
const enum IpSlot {
  HEAD = 0,
  SRC = 1,
  DST = 2,
  ID = 3,
  TOTAL_LEN = 4,
}

const enum IpHead {
  V6 = 1,
  DF = 2,
  MF = 4,
  CSUM_SHIFT = 3,
}

/** int32 slots per entry, and the slots other holders of entries read. */
export const STRIDE: number = Slot.COUNT;
export const POINT_SLOT: number = Slot.POINT;
export const BYTES_AT_SLOT: number = Slot.BYTES_AT;
export const BYTES_LEN_SLOT: number = Slot.BYTES_LEN;

/** A checksum verdict: 0 not checked (null), 1 good, 2 bad. */
function tri(v: boolean | null): number {
  return v === null ? 0 : v ? 1 : 2;
}
function untri(v: number): boolean | null {
  return v === 0 ? null : v === 1;
}

const DIRECTIONS: readonly Direction[] = [null, 'in', 'out'];
/** Tunnel kinds by code (0: not tunnelled). */
const TUNNELS: readonly TunnelKind[] = [null, 'ipip', 'ip6ip', 'sit', 'ip6ip6', 'gre', 'gue'];

/**
 * Entries in one int32 array, with the bytes they refer to: a reader's queue of kept packets,
 * or any other holder of entries. Grows as entries come (room, addBytes).
 */
export class Entries {
  i32: Int32Array;
  f64: Float64Array;
  bytes: Uint8Array;
  bytesLen = 0;

  constructor(entries: number, bytes = 1024) {
    this.i32 = new Int32Array(entries * Slot.COUNT);
    this.f64 = new Float64Array(this.i32.buffer);
    this.bytes = new Uint8Array(bytes);
  }

  /** Makes room for entry `n` (0-based). */
  room(n: number): void {
    if ((n + 1) * Slot.COUNT <= this.i32.length) return;
    const bigger = new Int32Array(Math.max(this.i32.length * 2, (n + 1) * Slot.COUNT));
    bigger.set(this.i32);
    this.i32 = bigger;
    this.f64 = new Float64Array(bigger.buffer);
  }

  /** Appends src[start, end) to the byte array; returns where it starts. */
  addBytes(src: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.bytesLen + len > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.bytesLen + len));
      bigger.set(this.bytes.subarray(0, this.bytesLen));
      this.bytes = bigger;
    }
    const at = this.bytesLen;
    const to = this.bytes;
    for (let i = 0; i < len; i++) to[at + i] = src[start + i]!;
    this.bytesLen += len;
    return at;
  }
}

/** Packs an IP view into the 5 slots at `o`; an IPv6 address goes into the entry's bytes,
 *  `first` being where they start. */
function packIp(v: IpView, buf: Uint8Array, e: Entries, o: number, first: number): void {
  const i32 = e.i32;
  const v4 = v.version === 4;
  i32[o + IpSlot.HEAD] = (v4 ? 0 : IpHead.V6) | (v.df ? IpHead.DF : 0) | (v.mf ? IpHead.MF : 0) | (tri(v.checksumOk) << IpHead.CSUM_SHIFT) | (v.ttl << 8) | (v.tos << 16) | (v.proto << 24);
  if (v4) {
    i32[o + IpSlot.SRC] = v.src4;
    i32[o + IpSlot.DST] = v.dst4;
  } else {
    i32[o + IpSlot.SRC] = e.addBytes(buf, v.srcOff, v.srcOff + 16) - first;
    e.addBytes(buf, v.dstOff, v.dstOff + 16);
    i32[o + IpSlot.DST] = v.flowLabel;
  }
  i32[o + IpSlot.ID] = v.id;
  i32[o + IpSlot.TOTAL_LEN] = v.totalLen;
}

/**
 * Packs what verify keeps of the decoded packet `p` into entry `n` of `e`: false (nothing
 * written) when `p` carries no record (no TCP/UDP, a non-first fragment). This is where a
 * record's fields are decided: addresses, the invariants correlation matches on (IP ID,
 * seq/ack/flags, payload length and hash), the fields rules compare. `capture` is the index of
 * p's file in the list readEntry will be given. `withOptions` false keeps no TCP option bytes:
 * only FullNAT rules read them.
 */
export function packPacket(p: Packet, point: number, capture: number, withOptions: boolean, e: Entries, n: number): boolean {
  const l = transportOf(p);
  if (!l) return false;
  e.room(n);
  const i32 = e.i32;
  const o = n * Slot.COUNT;
  const buf = p.buf;
  const isTcp = l.l4 === 'tcp';
  const tcp = l.tcp;
  const udp = l.udp;
  const tunnelled = p.tunnel !== null && p.inner.present;
  e.f64[o >> 1] = p.tsSec * 1e9 + p.tsNsec;
  i32[o + Slot.POINT] = point;
  i32[o + Slot.CAPTURE] = capture;
  i32[o + Slot.FRAME] = p.frame;
  const dir = p.direction === null ? 0 : p.direction === 'in' ? 1 : 2;
  const l4Ok = tri(isTcp ? tcp.checksumOk : udp.checksumOk);
  const tunnel = tunnelled ? TUNNELS.indexOf(p.tunnel) : 0;
  const partial = (isTcp ? tcp.checksumPartial : udp.checksumPartial) ? Meta.L4_PARTIAL : 0;
  const mss = isTcp && tcp.mss > 0 ? tcp.mss : 0;
  const uoa = l.uoa;
  const uoaMode = isTcp ? 0 : uoa.mode;
  i32[o + Slot.META] =
    (p.eth.present ? Meta.HAS_MACS : 0) | (tunnelled ? Meta.HAS_OUTER : 0) | (isTcp ? 0 : Meta.UDP) | (dir << Meta.DIR_SHIFT) | (l4Ok << Meta.L4_SHIFT) | (tunnel << Meta.TUNNEL_SHIFT) | partial |
    (uoaMode << Meta.UOA_SHIFT) | (mss << Meta.MSS_SHIFT);
  if (p.eth.present) {
    i32[o + Slot.SRC_MAC_HI] = macHiOf(buf, p.eth.srcOff);
    i32[o + Slot.SRC_MAC_LO] = macLoOf(buf, p.eth.srcOff);
    i32[o + Slot.DST_MAC_HI] = macHiOf(buf, p.eth.dstOff);
    i32[o + Slot.DST_MAC_LO] = macLoOf(buf, p.eth.dstOff);
  }
  i32[o + Slot.IF_INDEX] = p.sll.present ? p.sll.ifIndex : -1;
  i32[o + Slot.INTERFACE_ID] = p.interfaceId;
  const first = e.bytesLen;
  packIp(l.ip, buf, e, o + Slot.IP, first);
  if (tunnelled) packIp(p.net.ip, buf, e, o + Slot.OUTER, first);
  i32[o + Slot.PORTS] = isTcp ? (tcp.sport << 16) | tcp.dport : (udp.sport << 16) | udp.dport;
  i32[o + Slot.SEQ] = isTcp ? tcp.seq : 0;
  i32[o + Slot.ACK] = isTcp ? tcp.ack : 0;
  i32[o + Slot.FLAGS_WINDOW] = isTcp ? (tcp.flags << 16) | tcp.window : 0;
  i32[o + Slot.PAYLOAD_LEN] = recordPayloadLen(l);
  i32[o + Slot.HASH] = recordPayloadHash(p, l);
  i32[o + Slot.OPT_SIG] = isTcp ? optionsHash(p, l) : 0;
  const optEnd = isTcp && withOptions ? optionsEnd(p, l) : -1;
  if (optEnd >= 0) e.addBytes(buf, tcp.off + 20, optEnd);
  let optsLen = optEnd >= 0 ? optEnd - (tcp.off + 20) : 0;
  // A UDP datagram's UOA bytes take the place TCP option bytes have (the FullNAT rules read both).
  if (uoaMode !== 0 && withOptions) {
    const from = uoaMode === UoaMode.OPP ? uoa.shimOff : uoa.optOff;
    const want = uoaMode === UoaMode.OPP ? uoa.shimLen : uoa.len;
    const to = Math.min(from + want, p.end);
    if (to > from) {
      e.addBytes(buf, from, to);
      optsLen = to - from;
    }
  }
  i32[o + Slot.OPTS_LEN] = optsLen;
  const len = e.bytesLen - first;
  i32[o + Slot.BYTES_AT] = len > 0 ? first : -1;
  i32[o + Slot.BYTES_LEN] = len;
  return true;
}

function readIp(f: IpFields, i32: Int32Array, o: number, bytes: Uint8Array, at: number): IpFields {
  const head = i32[o + IpSlot.HEAD]!;
  const v4 = (head & IpHead.V6) === 0;
  const src = i32[o + IpSlot.SRC]!;
  const dst = i32[o + IpSlot.DST]!;
  f.v = v4 ? 4 : 6;
  f.src = v4 ? ip4(src) : ipv6ToString(bytes, at + src);
  f.dst = v4 ? ip4(dst) : ipv6ToString(bytes, at + src + 16);
  f.flow = v4 ? 0 : dst;
  f.ttl = (head >>> 8) & 0xff;
  // Unsigned: an IPv6 fragment header's identification has 32 bits.
  f.id = i32[o + IpSlot.ID]! >>> 0;
  f.df = (head & IpHead.DF) !== 0;
  f.mf = (head & IpHead.MF) !== 0;
  f.tos = (head >>> 16) & 0xff;
  f.proto = head >>> 24;
  f.totalLen = i32[o + IpSlot.TOTAL_LEN]!;
  f.checksumOk = untri((head >>> IpHead.CSUM_SHIFT) & 3);
  return f;
}

/**
 * The record entry at int32 index `o` holds (`bytes`: its Entries' byte array), written into
 * `into` when given (a pooled record: every field is overwritten). Its corrected time `t` is
 * left equal to the capture time: the caller subtracts its point's clock offset. `captures`
 * names the files the entry's capture index refers to.
 */
export function readEntry(i32: Int32Array, f64: Float64Array, o: number, bytes: Uint8Array, captures: readonly string[], into?: PacketRecord): PacketRecord {
  const r = into ?? blankRecord();
  const ts = f64[o >> 1]!;
  const meta = i32[o + Slot.META]!;
  const at = i32[o + Slot.BYTES_AT]!;
  const macs = (meta & Meta.HAS_MACS) !== 0;
  r.point = i32[o + Slot.POINT]!;
  r.capture = captures[i32[o + Slot.CAPTURE]!]!;
  r.frame = i32[o + Slot.FRAME]!;
  r.ts = ts;
  r.t = ts;
  r.srcMac = macs ? macOf(i32[o + Slot.SRC_MAC_HI]!, i32[o + Slot.SRC_MAC_LO]!) : null;
  r.dstMac = macs ? macOf(i32[o + Slot.DST_MAC_HI]!, i32[o + Slot.DST_MAC_LO]!) : null;
  r.direction = DIRECTIONS[(meta >>> Meta.DIR_SHIFT) & 3]!;
  r.ifIndex = i32[o + Slot.IF_INDEX]!;
  r.interfaceId = i32[o + Slot.INTERFACE_ID]!;
  readIp(r.ip, i32, o + Slot.IP, bytes, at);
  r.outer = (meta & Meta.HAS_OUTER) === 0 ? null : readIp(r.outer ?? blankIp(), i32, o + Slot.OUTER, bytes, at);
  r.tunnel = TUNNELS[(meta >>> Meta.TUNNEL_SHIFT) & 7]!;
  r.proto = (meta & Meta.UDP) === 0 ? 'tcp' : 'udp';
  const ports = i32[o + Slot.PORTS]!;
  r.sport = ports >>> 16;
  r.dport = ports & 0xffff;
  // seq and ack are unsigned 32-bit numbers: stored as int32, read back unsigned.
  r.seq = i32[o + Slot.SEQ]! >>> 0;
  r.ack = i32[o + Slot.ACK]! >>> 0;
  const fw = i32[o + Slot.FLAGS_WINDOW]!;
  r.flags = fw >>> 16;
  r.window = fw & 0xffff;
  r.payloadLen = i32[o + Slot.PAYLOAD_LEN]!;
  r.hash = i32[o + Slot.HASH]!;
  r.optSig = i32[o + Slot.OPT_SIG]!;
  const optsLen = i32[o + Slot.OPTS_LEN]!;
  const end = at + i32[o + Slot.BYTES_LEN]!;
  const optBytes = optsLen === 0 ? null : bytes.slice(end - optsLen, end);
  const udp = (meta & Meta.UDP) !== 0;
  r.tcpOpts = udp ? null : optBytes;
  r.uoa = udp ? optBytes : null;
  r.uoaMode = udp ? (((meta >>> Meta.UOA_SHIFT) & 3) as 0 | 1 | 2) : 0;
  r.l4ChecksumOk = untri((meta >>> Meta.L4_SHIFT) & 3);
  r.l4ChecksumPartial = (meta & Meta.L4_PARTIAL) !== 0;
  r.mss = meta >>> Meta.MSS_SHIFT;
  r.role = null;
  r.c2s = true;
  return r;
}

/** Addresses and ports to look for in entries: IPv4 addresses as int32 numbers, IPv6 ones as
 *  text (as readEntry writes them). */
export interface EntryMatch {
  v4: ReadonlySet<number>;
  v6: ReadonlySet<string>;
  ports: ReadonlySet<number>;
}

function ipMentions(i32: Int32Array, o: number, bytes: Uint8Array, at: number, m: EntryMatch): boolean {
  if ((i32[o + IpSlot.HEAD]! & IpHead.V6) === 0) return m.v4.has(i32[o + IpSlot.SRC]!) || m.v4.has(i32[o + IpSlot.DST]!);
  // The text is made only when some IPv6 address is looked for.
  return m.v6.size > 0 && (m.v6.has(ipv6ToString(bytes, at + i32[o + IpSlot.SRC]!)) || m.v6.has(ipv6ToString(bytes, at + i32[o + IpSlot.SRC]! + 16)));
}

/** Whether entry `n` of `e` names an address of `m` (inner header, or outer when tunnelled)
 *  or a port of it, as source or destination. */
export function entryMentions(e: Entries, n: number, m: EntryMatch): boolean {
  const i32 = e.i32;
  const o = n * Slot.COUNT;
  const at = i32[o + Slot.BYTES_AT]!;
  if (ipMentions(i32, o + Slot.IP, e.bytes, at, m)) return true;
  if ((i32[o + Slot.META]! & Meta.HAS_OUTER) !== 0 && ipMentions(i32, o + Slot.OUTER, e.bytes, at, m)) return true;
  const ports = i32[o + Slot.PORTS]!;
  return m.ports.has(ports >>> 16) || m.ports.has(ports & 0xffff);
}

/** One entry to pack into and read back from (extractRecord). */
const scratch = new Entries(1);

/** The record of decoded packet `p` (null when it carries none), as readers make it:
 *  packPacket, then readEntry. `into`: a pooled record to overwrite. */
export function extractRecord(p: Packet, point: number, withOptions = true, into?: PacketRecord): PacketRecord | null {
  scratch.bytesLen = 0;
  if (!packPacket(p, point, 0, withOptions, scratch, 0)) return null;
  return readEntry(scratch.i32, scratch.f64, 0, scratch.bytes, [p.capture], into);
}

/**
 * Records whose connection has been judged, kept for reuse. A record lives from extraction
 * until its connection is judged (seconds of capture time): long enough for V8 to promote it
 * out of the young generation, so a million fresh records cost more in garbage collection than
 * in decoding. Reusing judged ones keeps the record count at the live maximum. A record may be
 * given back only when nothing refers to it any more (the trackers know when: see
 * ConnectionTracker), and only by the run that took it.
 */
export class RecordPool {
  private readonly free: PacketRecord[] = [];
  constructor(private readonly max = 1 << 17) {}

  take(): PacketRecord | undefined {
    return this.free.pop();
  }

  give(r: PacketRecord): void {
    if (this.free.length < this.max) this.free.push(r);
  }

  get size(): number {
    return this.free.length;
  }
}

/** A small copy of a record's identity (the full record holds headers and would pin them). */
export function refOf(r: PacketRecord): PacketRef {
  return { point: r.point, capture: r.capture, frame: r.frame, role: r.role };
}

/** Evidence line of a record: capture file, frame and point name. */
export function describeRecord(r: PacketRecord): string {
  return `${r.capture}#${r.frame}`;
}

/** Mixes 32-bit values (murmur3 finaliser style) into an unsigned 32-bit hash: numeric map
 *  keys, hash buckets. */
export function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A packet's invariants as one number (53 bits of two mixed 32-bit halves): a Map keyed by
 * numbers is far cheaper than one keyed by concatenated strings on millions of packets, and a
 * collision needs 53 random bits to agree.
 */
export function numericKey(a: number, b: number, c: number, d: number, e: number, f: number): number {
  const h1 = mix(mix(mix(0x9747b28c, a), b), c);
  const h2 = mix(mix(mix(0x1b873593, d), e), f);
  return h1 * 2097152 + (h2 & 0x1fffff);
}
