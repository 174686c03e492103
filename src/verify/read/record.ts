/**
 * The compact copy of one decoded packet that the verify engine keeps. The decoder's `Packet`
 * is a reused view over a buffer that the reader recycles, so everything rules need later is
 * copied out here, once, and only for packets that concern the service: addresses as text
 * (the service model compares strings), the invariants the correlator matches on (IP ID, TCP
 * seq/ack/flags, payload length and a 32-bit payload hash), and the fields rules compare
 * across points (TTL, DF, TOS, MACs, checksum verdicts, tunnel outer header).
 *
 * extractRecord is the one place a record's fields are decided: a record carried in another
 * form is this record packed and read back, never extracted a second way.
 */
import { ipv4ToString, ipv6ToString, macToString } from '../../decode/addr.js';
import type { IpView, NetLayers, Packet } from '../../decode/packet.js';
import type { IpFields, PacketRecord, PacketRef } from '../model/record.js';

export function blankIp(): IpFields {
  return { v: 4, src: '', dst: '', ttl: 0, id: 0, df: false, mf: false, tos: 0, proto: 0, totalLen: 0, checksumOk: null };
}

/** A record with every field present (one object shape for fresh and reused records);
 *  extractRecord overwrites them all. */
export function blankRecord(): PacketRecord {
  return {
    point: 0, capture: '', frame: 0, ts: 0, t: 0, srcMac: null, dstMac: null, direction: null, ifIndex: -1, interfaceId: 0,
    ip: blankIp(), outer: null, tunnel: null, proto: 'tcp', sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, window: 0,
    payloadLen: 0, hash: 0, optSig: 0, tcpOpts: null, l4ChecksumOk: null, l4ChecksumPartial: false, mss: 0, role: null, c2s: true,
  };
}

/** Overwrites every field of `f` from the IP view (a pooled record reuses its header objects). */
function fillIp(f: IpFields, v: IpView, buf: Buffer): IpFields {
  const isV4 = v.version === 4;
  f.v = isV4 ? 4 : 6;
  f.src = isV4 ? ip4(v.src4) : ipv6ToString(buf, v.srcOff);
  f.dst = isV4 ? ip4(v.dst4) : ipv6ToString(buf, v.dstOff);
  f.ttl = v.ttl;
  f.id = v.id;
  f.df = v.df;
  f.mf = v.mf;
  f.tos = v.tos;
  f.proto = v.proto;
  f.totalLen = v.totalLen;
  f.checksumOk = v.checksumOk;
  return f;
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

function optionBytes(p: Packet, l: NetLayers): Uint8Array | null {
  const end = optionsEnd(p, l);
  return end < 0 ? null : Uint8Array.prototype.slice.call(p.buf, l.tcp.off + 20, end);
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
const ip4Text = new Map<number, string>();
const macText = new Map<string, string>();
const MAX_INTERN = 1 << 16;
const IP_SLOTS = 256;
const ipKey = new Int32Array(IP_SLOTS).fill(-1);
const ipVal: string[] = new Array<string>(IP_SLOTS).fill('');
const MAC_SLOTS = 64;
const macHi = new Int32Array(MAC_SLOTS).fill(-1);
const macLo = new Int32Array(MAC_SLOTS);
const macVal: string[] = new Array<string>(MAC_SLOTS).fill('');

/** The text of an IPv4 address (uint32 or int32), interned. */
export function ip4(a: number): string {
  const key = a | 0;
  const slot = a & (IP_SLOTS - 1);
  // 255.255.255.255 is -1 as int32, the empty-slot mark: it just always misses.
  if (ipKey[slot] === key && key !== -1) return ipVal[slot]!;
  // Keyed by the int32 form: the same address as uint32 or int32 finds the same entry.
  let s = ip4Text.get(key);
  if (s === undefined) {
    s = ipv4ToString(key);
    if (ip4Text.size < MAX_INTERN) ip4Text.set(key, s);
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

function mac(buf: Buffer, off: number): string {
  return macOf(macHiOf(buf, off), macLoOf(buf, off));
}

const macBytes = new Uint8Array(6);

/** The text of a MAC address given as macHiOf / macLoOf, interned. */
export function macOf(hi: number, lo: number): string {
  const slot = (lo ^ (lo >>> 8) ^ hi) & (MAC_SLOTS - 1);
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
    if (macText.size < MAX_INTERN) macText.set(text, s);
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
  return l;
}

/** The payload length a record keeps: the transport's length on the wire, which is more than
 *  the captured bytes when snaplen cut them. */
export function recordPayloadLen(l: NetLayers): number {
  return l.l4 === 'tcp' ? Math.max(l.tcp.payloadWireLen, l.tcp.payloadLen) : Math.max(l.udp.length - 8, l.udp.payloadLen);
}

/** The payload hash a record keeps: -1 when snaplen cut the payload. */
export function recordPayloadHash(p: Packet, l: NetLayers): number {
  const isTcp = l.l4 === 'tcp';
  const pl = isTcp ? l.tcp.payloadLen : l.udp.payloadLen;
  const wireLen = isTcp ? l.tcp.payloadWireLen : l.udp.length - 8;
  return pl < wireLen ? -1 : payloadHash(p.buf, isTcp ? l.tcp.payloadOff : l.udp.payloadOff, pl);
}

/** Copies what the engine needs out of the reused packet view. `withOptions` false leaves
 *  `tcpOpts` null: only FullNAT rules read the option bytes, and the copy is one allocation
 *  (with its own backing store) per packet that carries options. `into` is a record from a
 *  RecordPool to overwrite instead of allocating one. */
export function extractRecord(p: Packet, point: number, withOptions = true, into?: PacketRecord): PacketRecord | null {
  const l = transportOf(p);
  if (!l) return null;
  const buf = p.buf;
  const isTcp = l.l4 === 'tcp';
  const tcp = l.tcp;
  const udp = l.udp;
  const tunnelled = p.tunnel !== null && p.inner.present;
  const ts = p.tsSec * 1e9 + p.tsNsec;
  const r = into ?? blankRecord();
  r.point = point;
  r.capture = p.capture;
  r.frame = p.frame;
  r.ts = ts;
  r.t = ts;
  r.srcMac = p.eth.present ? mac(buf, p.eth.srcOff) : null;
  r.dstMac = p.eth.present ? mac(buf, p.eth.dstOff) : null;
  r.direction = p.direction;
  r.ifIndex = p.sll.present ? p.sll.ifIndex : -1;
  r.interfaceId = p.interfaceId;
  fillIp(r.ip, l.ip, buf);
  r.outer = tunnelled ? fillIp(r.outer ?? blankIp(), p.net.ip, buf) : null;
  r.tunnel = tunnelled ? p.tunnel : null;
  r.proto = isTcp ? 'tcp' : 'udp';
  r.sport = isTcp ? tcp.sport : udp.sport;
  r.dport = isTcp ? tcp.dport : udp.dport;
  r.seq = isTcp ? tcp.seq : 0;
  r.ack = isTcp ? tcp.ack : 0;
  r.flags = isTcp ? tcp.flags : 0;
  r.window = isTcp ? tcp.window : 0;
  r.payloadLen = recordPayloadLen(l);
  r.hash = recordPayloadHash(p, l);
  r.optSig = isTcp ? optionsHash(p, l) : 0;
  r.tcpOpts = isTcp && withOptions ? optionBytes(p, l) : null;
  r.l4ChecksumOk = isTcp ? tcp.checksumOk : udp.checksumOk;
  r.l4ChecksumPartial = isTcp ? tcp.checksumPartial : udp.checksumPartial;
  r.mss = isTcp && tcp.mss > 0 ? tcp.mss : 0;
  r.role = null;
  r.c2s = true;
  return r;
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
