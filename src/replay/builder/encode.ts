/**
 * Serialisation of one layer given the bytes it carries. The builder runs these from the innermost
 * layer outwards, so every length and checksum is computed over the final bytes.
 */
import type {
  ArpSpec,
  EthSpec,
  GreSpec,
  GueSpec,
  IcmpSpec,
  Ipv4Spec,
  Ipv6Ext,
  Ipv6Spec,
  Layer,
  LayerType,
  SllSpec,
  TcpSpec,
  UdpSpec,
  VlanSpec,
} from './types.js';
import { internetChecksum, sum16 } from '../../decode/checksum.js';
import { ipv4Bytes, ipv6Bytes, macBytes } from './addr-bytes.js';
import { encodeTcpOptions, parseTcpFlags } from './tcp-options.js';
import { DEFAULT_TTL, DEFAULT_TCP_WINDOW, DEFAULT_GUE_SPORT, PROTO_NONE_V4, PROTO_NONE_V6 } from './defaults.js';

/** The IP header an L4 checksum's pseudo-header is taken from. */
export type IpContext = { t: 'ipv4'; s: Ipv4Spec } | { t: 'ipv6'; s: Ipv6Spec };

const EXT_CODE: Record<Ipv6Ext['kind'], number> = { hop: 0, routing: 43, fragment: 44, dest: 60 };

/** IP protocol number announcing `next` (undefined when the layer has no number). */
export function ipProtoOf(next: LayerType | undefined): number | undefined {
  switch (next) {
    case 'tcp':
      return 6;
    case 'udp':
    case 'gue':
      return 17;
    case 'icmp':
      return 1;
    case 'icmpv6':
      return 58;
    case 'gre':
      return 47;
    case 'ipv4':
      return 4;
    case 'ipv6':
      return 41;
    default:
      return undefined;
  }
}

/** EtherType announcing `next`; for a VLAN tag this is its TPID. */
export function etherTypeOf(next: Layer | undefined, afterNext: Layer | undefined): number {
  if (!next) return 0;
  switch (next.t) {
    case 'vlan':
      return next.s.tpid ?? (afterNext?.t === 'vlan' ? 0x88a8 : 0x8100);
    case 'arp':
      return 0x0806;
    case 'ipv4':
      return 0x0800;
    case 'ipv6':
      return 0x86dd;
    default:
      throw new TypeError(`${next.t} cannot follow a link layer`);
  }
}

function checkU(v: number, bits: number, what: string): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range (${bits} bits): ${v}`);
  return v;
}

export function encodeEth(s: EthSpec, type: number, inner: Buffer): Buffer {
  const h = Buffer.alloc(14);
  macBytes(s.dst).copy(h, 0);
  macBytes(s.src).copy(h, 6);
  h.writeUInt16BE(checkU(s.type ?? type, 16, 'EtherType'), 12);
  const out = Buffer.concat([h, inner]);
  if (s.minLength !== undefined && out.length < s.minLength) return Buffer.concat([out, Buffer.alloc(s.minLength - out.length)]);
  return out;
}

export function encodeSll(s: SllSpec, protocol: number, inner: Buffer): Buffer {
  const addr = macBytes(s.addr ?? '00:00:00:00:00:00');
  const proto = checkU(s.protocol ?? protocol, 16, 'SLL protocol');
  if ((s.version ?? 1) === 1) {
    const h = Buffer.alloc(16);
    h.writeUInt16BE(s.pktType ?? 0, 0);
    h.writeUInt16BE(s.hatype ?? 1, 2);
    h.writeUInt16BE(6, 4);
    addr.copy(h, 6);
    h.writeUInt16BE(proto, 14);
    return Buffer.concat([h, inner]);
  }
  const h = Buffer.alloc(20);
  h.writeUInt16BE(proto, 0);
  h.writeUInt32BE(checkU(s.ifIndex ?? 1, 32, 'ifIndex'), 4);
  h.writeUInt16BE(s.hatype ?? 1, 8);
  h[10] = s.pktType ?? 0;
  h[11] = 6;
  addr.copy(h, 12);
  return Buffer.concat([h, inner]);
}

export function encodeVlan(s: VlanSpec, type: number, inner: Buffer): Buffer {
  const h = Buffer.alloc(4);
  const tci = (checkU(s.pcp ?? 0, 3, 'VLAN pcp') << 13) | (s.dei ? 0x1000 : 0) | checkU(s.id, 12, 'VLAN id');
  h.writeUInt16BE(tci, 0);
  h.writeUInt16BE(checkU(s.type ?? type, 16, 'EtherType'), 2);
  return Buffer.concat([h, inner]);
}

export function encodeArp(s: ArpSpec, inner: Buffer): Buffer {
  const h = Buffer.alloc(28);
  h.writeUInt16BE(1, 0); // Ethernet
  h.writeUInt16BE(0x0800, 2); // IPv4
  h[4] = 6;
  h[5] = 4;
  h.writeUInt16BE(s.op, 6);
  macBytes(s.sha).copy(h, 8);
  ipv4Bytes(s.spa).copy(h, 14);
  macBytes(s.tha).copy(h, 18);
  ipv4Bytes(s.tpa).copy(h, 24);
  return Buffer.concat([h, inner]);
}

export function encodeIpv4(s: Ipv4Spec, next: LayerType | undefined, inner: Buffer): Buffer {
  const rawOpts = s.options ?? Buffer.alloc(0);
  const optLen = Math.ceil(rawOpts.length / 4) * 4;
  const hl = 20 + optLen;
  if (hl > 60) throw new RangeError(`IPv4 options too long: ${rawOpts.length} bytes`);
  const h = Buffer.alloc(hl); // zero fill = EOL padding of the options
  rawOpts.copy(h, 20);
  h[0] = 0x40 | checkU(s.ihl ?? hl / 4, 4, 'IHL');
  h[1] = checkU(s.tos ?? 0, 8, 'TOS');
  const tot = s.totalLength ?? hl + inner.length;
  h.writeUInt16BE(checkU(tot, 16, 'IPv4 total length'), 2);
  h.writeUInt16BE(checkU(s.id ?? 0, 16, 'IPv4 id'), 4);
  const off = s.fragOffset ?? 0;
  if (off % 8 !== 0) throw new RangeError(`fragment offset must be a multiple of 8: ${off}`);
  h.writeUInt16BE((s.df ? 0x4000 : 0) | (s.mf ? 0x2000 : 0) | checkU(off / 8, 13, 'fragment offset / 8'), 6);
  h[8] = checkU(s.ttl ?? DEFAULT_TTL, 8, 'TTL');
  h[9] = checkU(s.proto ?? ipProtoOf(next) ?? PROTO_NONE_V4, 8, 'protocol');
  ipv4Bytes(s.src).copy(h, 12);
  ipv4Bytes(s.dst).copy(h, 16);
  h.writeUInt16BE(s.checksum ?? internetChecksum(h, 0, hl), 10);
  return Buffer.concat([h, inner]);
}

/** Pads hop-by-hop / destination option TLVs so the header is a multiple of 8 bytes (Pad1 / PadN). */
function padExtOptions(opts: Buffer): Buffer {
  const fill = (8 - ((2 + opts.length) % 8)) % 8;
  if (fill === 0) return opts;
  if (fill === 1) return Buffer.concat([opts, Buffer.from([0])]);
  const padN = Buffer.alloc(fill);
  padN[0] = 1;
  padN[1] = fill - 2;
  return Buffer.concat([opts, padN]);
}

function encodeExt(e: Ipv6Ext, nextHdr: number): Buffer {
  switch (e.kind) {
    case 'hop':
    case 'dest': {
      const body = padExtOptions(e.options ?? Buffer.alloc(0));
      const h = Buffer.alloc(2 + body.length);
      h[0] = nextHdr;
      h[1] = h.length / 8 - 1;
      body.copy(h, 2);
      return h;
    }
    case 'routing': {
      const addrs = (e.addresses ?? []).map(ipv6Bytes);
      const h = Buffer.alloc(8 + 16 * addrs.length);
      h[0] = nextHdr;
      h[1] = 2 * addrs.length;
      h[2] = e.routingType ?? 0;
      h[3] = e.segmentsLeft ?? 0;
      addrs.forEach((a, i) => a.copy(h, 8 + 16 * i));
      return h;
    }
    case 'fragment': {
      if (e.offset % 8 !== 0) throw new RangeError(`fragment offset must be a multiple of 8: ${e.offset}`);
      const h = Buffer.alloc(8);
      h[0] = nextHdr;
      h.writeUInt16BE((checkU(e.offset / 8, 13, 'fragment offset / 8') << 3) | (e.mf ? 1 : 0), 2);
      h.writeUInt32BE(checkU(e.id, 32, 'fragment id'), 4);
      return h;
    }
  }
}

export function encodeIpv6(s: Ipv6Spec, next: LayerType | undefined, inner: Buffer): Buffer {
  const upper = checkU(s.next ?? ipProtoOf(next) ?? PROTO_NONE_V6, 8, 'next header');
  const exts = s.ext ?? [];
  const extBufs: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const following = exts[i + 1];
    extBufs.push(encodeExt(exts[i]!, following ? EXT_CODE[following.kind] : upper));
  }
  const extBytes = Buffer.concat(extBufs);
  const h = Buffer.alloc(40);
  const tc = checkU(s.tc ?? 0, 8, 'traffic class');
  const fl = checkU(s.flowLabel ?? 0, 20, 'flow label');
  h.writeUInt32BE(((6 << 28) | (tc << 20) | fl) >>> 0, 0);
  h.writeUInt16BE(checkU(s.payloadLength ?? extBytes.length + inner.length, 16, 'IPv6 payload length'), 4);
  h[6] = exts.length > 0 ? EXT_CODE[exts[0]!.kind] : upper;
  h[7] = checkU(s.hlim ?? DEFAULT_TTL, 8, 'hop limit');
  ipv6Bytes(s.src).copy(h, 8);
  ipv6Bytes(s.dst).copy(h, 24);
  return Buffer.concat([h, extBytes, inner]);
}

/** Partial (unfolded, uncomplemented) sum of the pseudo-header for an L4 segment of `len` bytes. */
export function pseudoHeaderSum(ip: IpContext, proto: number, len: number): number {
  let ph: Buffer;
  if (ip.t === 'ipv4') {
    ph = Buffer.alloc(12);
    ipv4Bytes(ip.s.src).copy(ph, 0);
    ipv4Bytes(ip.s.dst).copy(ph, 4);
    ph[9] = proto;
    ph.writeUInt16BE(len & 0xffff, 10);
  } else {
    ph = Buffer.alloc(40);
    ipv6Bytes(ip.s.src).copy(ph, 0);
    ipv6Bytes(ip.s.dst).copy(ph, 16);
    ph.writeUInt32BE(len >>> 0, 32);
    ph[39] = proto;
  }
  return sum16(ph, 0, ph.length);
}

function l4Checksum(ip: IpContext, proto: number, seg: Buffer): number {
  return internetChecksum(seg, 0, seg.length, pseudoHeaderSum(ip, proto, seg.length));
}

function needIp(ip: IpContext | undefined, what: string): IpContext {
  if (!ip) throw new TypeError(`${what} needs an IP layer before it`);
  return ip;
}

export function encodeTcp(s: TcpSpec, ip: IpContext | undefined, inner: Buffer): Buffer {
  const opts = encodeTcpOptions(s.options ?? [], s.pad ?? 'eol');
  const hl = 20 + opts.length;
  if (hl > 60 && s.dataOffset === undefined) throw new RangeError(`TCP options exceed 40 bytes (${opts.length})`);
  const flags = parseTcpFlags(s.flags);
  const h = Buffer.alloc(hl);
  h.writeUInt16BE(checkU(s.sport, 16, 'sport'), 0);
  h.writeUInt16BE(checkU(s.dport, 16, 'dport'), 2);
  h.writeUInt32BE(checkU(s.seq ?? 0, 32, 'seq'), 4);
  h.writeUInt32BE(checkU(s.ack ?? 0, 32, 'ack'), 8);
  h[12] = (checkU(s.dataOffset ?? Math.ceil(hl / 4), 4, 'data offset') << 4) | (flags >> 8);
  h[13] = flags & 0xff;
  h.writeUInt16BE(checkU(s.window ?? DEFAULT_TCP_WINDOW, 16, 'window'), 14);
  h.writeUInt16BE(checkU(s.urgent ?? 0, 16, 'urgent pointer'), 18);
  opts.copy(h, 20);
  const seg = Buffer.concat([h, inner]);
  seg.writeUInt16BE(s.checksum ?? l4Checksum(needIp(ip, 'tcp'), 6, seg), 16);
  return seg;
}

function udpHeader(sport: number, dport: number, length: number | undefined, inner: Buffer): Buffer {
  const seg = Buffer.concat([Buffer.alloc(8), inner]);
  seg.writeUInt16BE(checkU(sport, 16, 'sport'), 0);
  seg.writeUInt16BE(checkU(dport, 16, 'dport'), 2);
  seg.writeUInt16BE(checkU(length ?? seg.length, 16, 'UDP length'), 4);
  return seg;
}

function udpSum(ip: IpContext, seg: Buffer): number {
  const c = l4Checksum(ip, 17, seg);
  // A computed 0 is sent as 0xffff: 0 means "no checksum" (RFC 768).
  return c === 0 ? 0xffff : c;
}

export function encodeUdp(s: UdpSpec, ip: IpContext | undefined, inner: Buffer): Buffer {
  const seg = udpHeader(s.sport, s.dport, s.length, inner);
  const c = s.checksum === 'zero' ? 0 : (s.checksum ?? udpSum(needIp(ip, 'udp'), seg));
  seg.writeUInt16BE(checkU(c, 16, 'UDP checksum'), 6);
  return seg;
}

export function encodeGue(s: GueSpec, next: LayerType | undefined, ip: IpContext | undefined, inner: Buffer): Buffer {
  const gue = Buffer.alloc(4);
  // Variant 0, C=0, hlen=0 (no optional fields), flags 0 — what ipvs_gue_encap sends without remcsum.
  gue[1] = checkU(s.proto ?? ipProtoOf(next) ?? 0, 8, 'GUE proto');
  const seg = udpHeader(s.sport ?? DEFAULT_GUE_SPORT, s.dport, undefined, Buffer.concat([gue, inner]));
  const c = typeof s.checksum === 'number' ? s.checksum : s.checksum ? udpSum(needIp(ip, 'gue'), seg) : 0;
  seg.writeUInt16BE(checkU(c, 16, 'UDP checksum'), 6);
  return seg;
}

export function encodeGre(s: GreSpec, next: Layer | undefined, inner: Buffer): Buffer {
  const proto = s.protocol ?? (next?.t === 'ipv4' ? 0x0800 : next?.t === 'ipv6' ? 0x86dd : next?.t === 'eth' ? 0x6558 : 0);
  const hasC = s.checksum !== undefined && s.checksum !== false;
  const hl = 4 + (hasC ? 4 : 0) + (s.key !== undefined ? 4 : 0) + (s.seq !== undefined ? 4 : 0);
  const h = Buffer.alloc(hl);
  h.writeUInt16BE((hasC ? 0x8000 : 0) | (s.key !== undefined ? 0x2000 : 0) | (s.seq !== undefined ? 0x1000 : 0), 0);
  h.writeUInt16BE(checkU(proto, 16, 'GRE protocol'), 2);
  let o = hasC ? 8 : 4;
  if (s.key !== undefined) {
    h.writeUInt32BE(checkU(s.key, 32, 'GRE key'), o);
    o += 4;
  }
  if (s.seq !== undefined) h.writeUInt32BE(checkU(s.seq, 32, 'GRE seq'), o);
  const out = Buffer.concat([h, inner]);
  if (hasC) out.writeUInt16BE(typeof s.checksum === 'number' ? s.checksum : internetChecksum(out, 0, out.length), 4);
  return out;
}

const ICMP4_ECHO = new Set([0, 8, 13, 14, 15, 16, 17, 18]);

function icmpBody(s: IcmpSpec, inner: Buffer): Buffer {
  let body = inner;
  if (s.quote) {
    if (inner.length > 0) throw new TypeError('icmp: give either quote or following layers/payload, not both');
    body = s.quote;
  }
  return s.quoteLen !== undefined && body.length > s.quoteLen ? body.subarray(0, s.quoteLen) : body;
}

export function encodeIcmp(s: IcmpSpec, inner: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = checkU(s.type, 8, 'ICMP type');
  h[1] = checkU(s.code, 8, 'ICMP code');
  let rest = s.rest;
  if (rest === undefined) {
    rest = 0;
    if (ICMP4_ECHO.has(s.type) || s.id !== undefined || s.seq !== undefined) {
      rest = ((checkU(s.id ?? 0, 16, 'ICMP id') << 16) | checkU(s.seq ?? 0, 16, 'ICMP seq')) >>> 0;
    }
    if (s.mtu !== undefined) rest = (rest | checkU(s.mtu, 16, 'next-hop MTU')) >>> 0;
  }
  h.writeUInt32BE(checkU(rest, 32, 'ICMP rest of header'), 4);
  const out = Buffer.concat([h, icmpBody(s, inner)]);
  out.writeUInt16BE(s.checksum ?? internetChecksum(out, 0, out.length), 2);
  return out;
}

export function encodeIcmpv6(s: IcmpSpec, ip: IpContext | undefined, inner: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = checkU(s.type, 8, 'ICMPv6 type');
  h[1] = checkU(s.code, 8, 'ICMPv6 code');
  let rest = s.rest;
  let body: Buffer;
  if (s.nd) {
    const nd = s.nd;
    if (rest === undefined) rest = ((nd.router ? 0x80000000 : 0) | (nd.solicited ? 0x40000000 : 0) | (nd.override ? 0x20000000 : 0)) >>> 0;
    const parts = [ipv6Bytes(nd.target)];
    if (nd.lladdr !== undefined) parts.push(Buffer.from([s.type === 136 ? 2 : 1, 1]), macBytes(nd.lladdr));
    body = Buffer.concat([...parts, inner]);
  } else {
    if (rest === undefined) {
      rest = 0;
      if (s.type === 128 || s.type === 129 || s.id !== undefined || s.seq !== undefined) {
        rest = ((checkU(s.id ?? 0, 16, 'ICMPv6 id') << 16) | checkU(s.seq ?? 0, 16, 'ICMPv6 seq')) >>> 0;
      }
      if (s.mtu !== undefined) rest = checkU(s.mtu, 32, 'MTU');
    }
    body = icmpBody(s, inner);
  }
  h.writeUInt32BE(checkU(rest, 32, 'ICMPv6 rest of header'), 4);
  const out = Buffer.concat([h, body]);
  out.writeUInt16BE(s.checksum ?? l4Checksum(needIp(ip, 'icmpv6'), 58, out), 2);
  return out;
}
