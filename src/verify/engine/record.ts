/**
 * The compact copy of one decoded packet that the verify engine keeps. The decoder's `Packet`
 * is a reused view over a buffer that the reader recycles, so everything rules need later is
 * copied out here, once, and only for packets that concern the service: addresses as text
 * (the service model compares strings), the invariants the correlator matches on (IP ID, TCP
 * seq/ack/flags, payload length and a 32-bit payload hash), and the fields rules compare
 * across points (TTL, DF, TOS, MACs, checksum verdicts, tunnel outer header).
 */
import type { Direction } from '../../decode/frame.js';
import { ipv4ToString, ipv6ToString, macToString } from '../../decode/addr.js';
import type { IpView, NetLayers, Packet } from '../../decode/packet.js';

export interface IpFields {
  v: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  id: number;
  df: boolean;
  mf: boolean;
  tos: number;
  proto: number;
  totalLen: number;
  checksumOk: boolean | null;
}

/** Where a copy sits on the path: client, director ingress/egress, real server. */
export type Role = 'C' | 'Di' | 'De' | 'R';

export interface PacketRecord {
  /** Index into the run's point list. */
  point: number;
  capture: string;
  frame: number;
  /** Capture timestamp (ns, float) as recorded, and corrected by the point's clock offset. */
  ts: number;
  t: number;
  srcMac: string | null;
  dstMac: string | null;
  /** pcapng epb_flags / SLL packet type direction. */
  direction: Direction;
  ifIndex: number;
  interfaceId: number;
  /** The transport-carrying IP header (the inner one for a tunnelled packet). */
  ip: IpFields;
  /** The outer header of a tunnelled packet (IPIP, GRE, GUE), else null. */
  outer: IpFields | null;
  tunnel: string | null;
  proto: 'tcp' | 'udp';
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payloadLen: number;
  /** FNV-1a over the captured payload bytes; -1 when the payload is cut by snaplen. */
  hash: number;
  /** FNV-1a of the TCP option bytes (0 = none), compared across points. */
  optSig: number;
  /** Raw TCP option bytes (null = none): FullNAT rules read TOA, MSS, TS and SACK from them
   *  (engine/fnat-options.ts). Only segments that carry options pay for the copy. */
  tcpOpts: Uint8Array | null;
  l4ChecksumOk: boolean | null;
  /** Filled by classification. */
  role: Role | null;
  /** Logical connection id, filled by classification. */
  conn: string | null;
  /** true: client → server direction. */
  c2s: boolean;
}

function ipFields(v: IpView, buf: Buffer): IpFields {
  const isV4 = v.version === 4;
  return {
    v: isV4 ? 4 : 6,
    src: isV4 ? ip4(v.src4) : ipv6ToString(buf, v.srcOff),
    dst: isV4 ? ip4(v.dst4) : ipv6ToString(buf, v.dstOff),
    ttl: v.ttl,
    id: v.id,
    df: v.df,
    mf: v.mf,
    tos: v.tos,
    proto: v.proto,
    totalLen: v.totalLen,
    checksumOk: v.checksumOk,
  };
}

/** FNV-1a 32-bit: cheap, good enough to tell payloads apart inside a time window. */
export function payloadHash(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off, end = off + len; i < end; i++) {
    h ^= buf[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function optionBytes(p: Packet, l: NetLayers): Uint8Array | null {
  const t = l.tcp;
  // By header length, not by decoded options: a malformed option (a TOA with a bad length
  // byte) is exactly what the FullNAT rules must see.
  if (t.hdrLen <= 20) return null;
  const start = t.off + 20;
  const end = Math.min(t.off + t.hdrLen, p.end);
  return end > start ? Uint8Array.prototype.slice.call(p.buf, start, end) : null;
}

function optionsHash(p: Packet, l: NetLayers): number {
  const t = l.tcp;
  if (t.optCount === 0) return 0;
  const start = t.off + 20;
  const end = Math.min(t.off + t.hdrLen, p.end);
  return end > start ? payloadHash(p.buf, start, end - start) : 0;
}

// Address and MAC texts repeat across millions of packets: intern them so each record points at
// one shared string instead of allocating its own (the records dominate the engine's memory).
const ip4Text = new Map<number, string>();
const macText = new Map<number, string>();
const MAX_INTERN = 1 << 16;

function ip4(a: number): string {
  let s = ip4Text.get(a);
  if (s === undefined) {
    s = ipv4ToString(a);
    if (ip4Text.size < MAX_INTERN) ip4Text.set(a, s);
  }
  return s;
}

function mac(buf: Buffer, off: number): string {
  // 48 bits as one exact number without readUIntBE's generic loop (per packet, twice).
  const n = (buf[off]! * 256 + buf[off + 1]!) * 4294967296 + (((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0);
  let s = macText.get(n);
  if (s === undefined) {
    s = macToString(buf, off);
    if (macText.size < MAX_INTERN) macText.set(n, s);
  }
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

/** Copies what the engine needs out of the reused packet view. `withOptions` false leaves
 *  `tcpOpts` null: only FullNAT rules read the option bytes, and the copy is one allocation
 *  (with its own backing store) per packet that carries options. */
export function extractRecord(p: Packet, point: number, withOptions = true): PacketRecord | null {
  const l = transportOf(p);
  if (!l) return null;
  const buf = p.buf;
  const isTcp = l.l4 === 'tcp';
  const tcp = l.tcp;
  const udp = l.udp;
  const pl = isTcp ? tcp.payloadLen : udp.payloadLen;
  const plOff = isTcp ? tcp.payloadOff : udp.payloadOff;
  const wireLen = isTcp ? tcp.payloadWireLen : udp.length - 8;
  const tunnelled = p.tunnel !== null && p.inner.present;
  const ts = p.tsSec * 1e9 + p.tsNsec;
  return {
    point,
    capture: p.capture,
    frame: p.frame,
    ts,
    t: ts,
    srcMac: p.eth.present ? mac(buf, p.eth.srcOff) : null,
    dstMac: p.eth.present ? mac(buf, p.eth.dstOff) : null,
    direction: p.direction,
    ifIndex: p.sll.present ? p.sll.ifIndex : -1,
    interfaceId: p.interfaceId,
    ip: ipFields(l.ip, buf),
    outer: tunnelled ? ipFields(p.net.ip, buf) : null,
    tunnel: tunnelled ? p.tunnel : null,
    proto: isTcp ? 'tcp' : 'udp',
    sport: isTcp ? tcp.sport : udp.sport,
    dport: isTcp ? tcp.dport : udp.dport,
    seq: isTcp ? tcp.seq : 0,
    ack: isTcp ? tcp.ack : 0,
    flags: isTcp ? tcp.flags : 0,
    window: isTcp ? tcp.window : 0,
    payloadLen: isTcp ? Math.max(wireLen, pl) : Math.max(wireLen, pl),
    hash: pl < wireLen ? -1 : payloadHash(buf, plOff, pl),
    optSig: isTcp ? optionsHash(p, l) : 0,
    tcpOpts: isTcp && withOptions ? optionBytes(p, l) : null,
    l4ChecksumOk: isTcp ? tcp.checksumOk : udp.checksumOk,
    role: null,
    conn: null,
    c2s: true,
  };
}

/** What evidence needs of a packet: kept per connection after its packets are dropped. */
export type PacketRef = Pick<PacketRecord, 'point' | 'capture' | 'frame' | 'role'>;

/** A small copy of a record's identity (the full record holds headers and would pin them). */
export function refOf(r: PacketRecord): PacketRef {
  return { point: r.point, capture: r.capture, frame: r.frame, role: r.role };
}

/** Evidence line of a record: capture file, frame and point name. */
export function describeRecord(r: PacketRecord): string {
  return `${r.capture}#${r.frame}`;
}

/** Mixes 32-bit values (murmur3 finaliser style); used to build numeric map keys. */
function mix(h: number, v: number): number {
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
