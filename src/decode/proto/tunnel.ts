/**
 * Encapsulations, each opening one level of `Packet.levels` (design.md "Encapsulation
 * levels"): the IPVS TUN kinds (lvs-behavior.md §1.5) IPIP (4), SIT/6in4 and 6in6 (41), GRE
 * (47: RFC 2784/2890 v0, RFC 2637 v1 with PPP) and GUE (draft-ietf-intarea-gue, on the
 * configured UDP ports); and the overlays around them: GRE carrying Ethernet (0x6558),
 * ERSPAN II/III (0x88be/0x22eb), MPLS (0x8847/0x8848), GRE-in-UDP (RFC 8086, 4754),
 * VXLAN (RFC 7348, 4789), Geneve (RFC 8926, 6081), MPLS-in-UDP (RFC 7510, 6635). The stack a
 * level carries is decoded with M_TUNNEL, so levels nest until MAX_LEVELS.
 */
import { internetChecksum } from '../checksum.js';
import { EtherType, IpProto, MAX_MPLS, type EncapLevel, type MplsView, type NetLayers } from '../packet.js';
import { M_FRAGMENT, MODE_INNER, M_QUIET, U_GENEVE, U_GRE, U_GUE, U_MPLS, U_VXLAN, type DecodeCtx } from './context.js';
import { decodeArp } from './arp.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeVlanTags, isVlanTpid } from './vlan.js';

/** Inner stack mode: keeps the outer's quietness (a fragment's inner packet is short by design). */
function innerMode(mode: number): number {
  return MODE_INNER | (mode & M_QUIET);
}

export function decodeIpInIp(ctx: DecodeCtx, outer: NetLayers, proto: number, off: number, end: number, mode: number): void {
  const v6outer = outer.ip.version === 6;
  const v4inner = proto === IpProto.IPIP;
  const kind = v4inner ? (v6outer ? 'ip6ip' : 'ipip') : v6outer ? 'ip6ip6' : 'sit';
  const lv = ctx.openLevel(kind, off, v4inner ? 'ipv4' : 'ipv6');
  if (lv === null) return;
  if (v4inner) decodeIpv4(ctx, lv.net, off, end, innerMode(mode));
  else decodeIpv6(ctx, lv.net, off, end, innerMode(mode));
}

/** IPv4 or IPv6 by the version nibble (after an MPLS stack, in GUE v1); other nibbles are left alone. */
export function decodeIpByNibble(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number): void {
  if (off >= end) {
    ctx.truncate('mpls', mode);
    return;
  }
  const v = ctx.buf[off]! >> 4;
  if (v === 4) decodeIpv4(ctx, L, off, end, mode);
  else if (v === 6) decodeIpv6(ctx, L, off, end, mode);
}

/**
 * MPLS label stack entries at `off` into `m` up to the bottom of stack (RFC 3032 §2.1).
 * Returns the offset after it, or −1 when the stack is cut or deeper than MAX_MPLS.
 */
export function decodeMpls(ctx: DecodeCtx, m: MplsView, off: number, end: number, mode: number): number {
  const { buf } = ctx;
  m.off = off;
  let o = off;
  for (;;) {
    if (m.count >= MAX_MPLS) {
      ctx.malformed('mpls', o, 'more than ' + MAX_MPLS + ' MPLS labels');
      return -1;
    }
    if (o + 4 > end) {
      ctx.truncate('mpls', mode);
      return -1;
    }
    const i = m.count++;
    m.label[i] = (buf[o]! << 12) | (buf[o + 1]! << 4) | (buf[o + 2]! >> 4);
    m.tc[i] = (buf[o + 2]! >> 1) & 7;
    const s = buf[o + 2]! & 1;
    m.s[i] = s;
    m.ttl[i] = buf[o + 3]!;
    o += 4;
    if (s === 1) return o;
  }
}

/** An Ethernet frame carried by level `lv` (TEB, ERSPAN, VXLAN, Geneve) and the IP in it. */
function decodeInnerEthernet(ctx: DecodeCtx, lv: EncapLevel, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  if (off + 14 > end) {
    ctx.truncate('ethernet', mode);
    return;
  }
  const eth = lv.eth;
  eth.present = true;
  eth.off = off;
  eth.dstOff = off;
  eth.srcOff = off + 6;
  let t = (buf[off + 12]! << 8) | buf[off + 13]!;
  eth.etherType = t;
  if (ctx.deferCarried && lv === ctx.p.levels[0]) {
    ctx.deferred = true;
    return;
  }
  let o = off + 14;
  if (isVlanTpid(t)) {
    o = decodeVlanTags(ctx, lv.vlan, eth, t, o, end, mode);
    if (o < 0) return;
    t = eth.etherType;
  }
  decodeLevelPayload(ctx, lv, t, o, end, mode);
}

/** What an EtherType-numbered payload type announces, inside level `lv`. */
function decodeLevelPayload(ctx: DecodeCtx, lv: EncapLevel, type: number, off: number, end: number, mode: number): void {
  if (type === EtherType.IPV4) decodeIpv4(ctx, lv.net, off, end, innerMode(mode));
  else if (type === EtherType.IPV6) decodeIpv6(ctx, lv.net, off, end, innerMode(mode));
  else if (type === EtherType.TEB && !lv.eth.present) decodeInnerEthernet(ctx, lv, off, end, mode);
  else if ((type === EtherType.ARP || type === EtherType.RARP) && lv.eth.present) decodeArp(ctx, off, end, type === EtherType.RARP, lv.arp, mode);
  else if ((type === EtherType.MPLS || type === EtherType.MPLS_MULTICAST) && lv.mpls.count === 0) {
    const ip = decodeMpls(ctx, lv.mpls, off, end, mode);
    if (ip >= 0) decodeIpByNibble(ctx, lv.net, ip, end, innerMode(mode));
  }
}

const GRE_C = 0x8000;
const GRE_R = 0x4000;
const GRE_K = 0x2000;
const GRE_S = 0x1000;
const GRE_A = 0x0080;

/** GRE at `off` (over IP, or the payload of UDP port 4754 when `overUdp`). */
export function decodeGre(ctx: DecodeCtx, off: number, end: number, mode: number, overUdp = false): void {
  const { buf } = ctx;
  if (off + 4 > end) {
    ctx.truncate('gre', mode);
    return;
  }
  const lv = ctx.openLevel(overUdp ? 'gre-udp' : 'gre', off, 'gre');
  if (lv === null) return;
  const flags = (buf[off]! << 8) | buf[off + 1]!;
  const proto = (buf[off + 2]! << 8) | buf[off + 3]!;
  const version = flags & 7;
  lv.greFlags = flags;
  lv.greVersion = version;
  lv.greProto = proto;
  lv.hdrLen = 4;
  if (version === 1) {
    decodeGreV1(ctx, lv, flags, proto, off, end, mode);
    return;
  }
  if (version !== 0) return;
  // RFC 1701 source routing (R) puts a variable SRE list before the payload; the kernel's
  // GRE (and so IPVS) never sends it, and RFC 2784 deprecates it: stop rather than guess.
  if (flags & GRE_R) return;
  let hlen = 4;
  if (flags & GRE_C) hlen += 4;
  if (flags & GRE_K) hlen += 4;
  if (flags & GRE_S) hlen += 4;
  if (off + hlen > end) {
    ctx.truncate('gre', mode);
    return;
  }
  lv.hdrLen = hlen;
  let o = off + 4;
  if (flags & GRE_C) {
    lv.greChecksum = (buf[o]! << 8) | buf[o + 1]!;
    // The sum covers the GRE header and payload: judged only when all of them were captured.
    if (ctx.checksums && !ctx.frameCut && (mode & M_FRAGMENT) === 0) lv.greChecksumOk = internetChecksum(buf, off, end - off, 0) === 0;
    o += 4;
  }
  if (flags & GRE_K) {
    lv.greKey = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
    o += 4;
  }
  if (flags & GRE_S) lv.greSeq = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  const pay = off + hlen;
  if (proto === EtherType.IPV4 || proto === EtherType.IPV6) {
    decodeLevelPayload(ctx, lv, proto, pay, end, mode);
    return;
  }
  // Not IP directly: an overlay, not an IPVS tunnel (Packet.tunnel names only those).
  if (proto === EtherType.TEB || proto === EtherType.MPLS || proto === EtherType.MPLS_MULTICAST) {
    notTun(ctx, lv);
    decodeLevelPayload(ctx, lv, proto, pay, end, mode);
  } else if (proto === EtherType.ERSPAN2) {
    notTun(ctx, lv);
    // Type I has no sequence number and no ERSPAN header: the mirrored frame follows GRE.
    if ((flags & GRE_S) === 0) decodeInnerEthernet(ctx, lv, pay, end, mode);
    else decodeErspan2(ctx, lv, pay, end, mode);
  } else if (proto === EtherType.ERSPAN3) {
    notTun(ctx, lv);
    decodeErspan3(ctx, lv, pay, end, mode);
  }
}

function notTun(ctx: DecodeCtx, lv: EncapLevel): void {
  if (ctx.p.levels[0] === lv) ctx.p.tunnel = null;
}

/** RFC 2637 §4.1 enhanced GRE: key = payload length + call ID, optional sequence and ack; PPP inside. */
function decodeGreV1(ctx: DecodeCtx, lv: EncapLevel, flags: number, proto: number, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  notTun(ctx, lv);
  if ((flags & (GRE_C | GRE_R)) !== 0 || (flags & GRE_K) === 0) {
    ctx.malformed('gre', off, 'GRE version 1 without key or with checksum/routing bits');
    return;
  }
  const hlen = 8 + (flags & GRE_S ? 4 : 0) + (flags & GRE_A ? 4 : 0);
  if (off + hlen > end) {
    ctx.truncate('gre', mode);
    return;
  }
  lv.hdrLen = hlen;
  lv.greKey = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  let o = off + 8;
  if (flags & GRE_S) {
    lv.greSeq = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
    o += 4;
  }
  if (flags & GRE_A) lv.greAck = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  // An ack-only packet carries no payload (payload length 0).
  if (proto !== EtherType.PPP || (lv.greKey >>> 16) === 0) return;
  let q = off + hlen;
  // PPP (RFC 1661): address/control 0xff 0x03 may be compressed away (ACFC), and a protocol
  // whose first byte is odd is one byte long (PFC).
  if (q + 2 <= end && buf[q] === 0xff && buf[q + 1] === 0x03) q += 2;
  if (q >= end) {
    ctx.truncate('ppp', mode);
    return;
  }
  let pp = buf[q]!;
  if ((pp & 1) === 0) {
    if (q + 2 > end) {
      ctx.truncate('ppp', mode);
      return;
    }
    pp = (pp << 8) | buf[q + 1]!;
    q += 2;
  } else q += 1;
  lv.pppProto = pp;
  if (pp === 0x21) decodeIpv4(ctx, lv.net, q, end, innerMode(mode));
  else if (pp === 0x57) decodeIpv6(ctx, lv.net, q, end, innerMode(mode));
}

/** The first 4 bytes, alike in ERSPAN II and III: version, VLAN, CoS, encapsulation type,
 *  truncated bit, session ID (kept in `vni`). */
function erspanFirstWord(buf: Uint8Array, off: number, lv: EncapLevel): void {
  const w0 = (buf[off]! << 8) | buf[off + 1]!;
  lv.flags = w0 >> 12;
  lv.spanVlan = w0 & 0xfff;
  const b2 = buf[off + 2]!;
  lv.spanCos = b2 >> 5;
  lv.spanEn = (b2 >> 3) & 3;
  lv.spanT = (b2 >> 2) & 1;
  lv.vni = ((b2 & 3) << 8) | buf[off + 3]!;
}

/** ERSPAN type II header (8 bytes) and the mirrored frame. */
function decodeErspan2(ctx: DecodeCtx, lv: EncapLevel, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  lv.kind = 'erspan2';
  if (off + 8 > end) {
    ctx.truncate('erspan', mode);
    return;
  }
  erspanFirstWord(buf, off, lv);
  lv.spanIndex = ((buf[off + 5]! & 0x0f) << 16) | (buf[off + 6]! << 8) | buf[off + 7]!;
  lv.hdrLen += 8;
  decodeInnerEthernet(ctx, lv, off + 8, end, mode);
}

/** ERSPAN type III header (12 bytes, + 8 of platform-specific subheader when O is set). */
function decodeErspan3(ctx: DecodeCtx, lv: EncapLevel, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  lv.kind = 'erspan3';
  if (off + 12 > end) {
    ctx.truncate('erspan', mode);
    return;
  }
  erspanFirstWord(buf, off, lv);
  lv.spanIndex = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  lv.spanSgt = (buf[off + 8]! << 8) | buf[off + 9]!;
  const w5 = (buf[off + 10]! << 8) | buf[off + 11]!;
  lv.spanHwId = (w5 >> 4) & 0x3f;
  lv.spanDir = (w5 >> 3) & 1;
  lv.spanGra = (w5 >> 1) & 3;
  lv.spanO = w5 & 1;
  lv.spanFt = (w5 >> 10) & 0x1f;
  let hlen = 12;
  if (lv.spanO) hlen += 8;
  if (off + hlen > end) {
    ctx.truncate('erspan', mode);
    return;
  }
  lv.hdrLen += hlen;
  // Frame types other than Ethernet are not opened (as tshark does not).
  if (lv.spanFt === 0) decodeInnerEthernet(ctx, lv, off + hlen, end, mode);
}

/** The UDP payload at `off` of a port `udpEncap` names (`code` one of U_*). */
export function decodeUdpEncap(ctx: DecodeCtx, code: number, off: number, end: number, mode: number): void {
  switch (code) {
    case U_GUE:
      decodeGue(ctx, off, end, mode);
      return;
    case U_VXLAN:
      decodeVxlan(ctx, off, end, mode);
      return;
    case U_GENEVE:
      decodeGeneve(ctx, off, end, mode);
      return;
    case U_GRE:
      decodeGre(ctx, off, end, mode, true);
      return;
    case U_MPLS: {
      if (off + 4 > end) {
        ctx.truncate('mpls', mode);
        return;
      }
      const lv = ctx.openLevel('mpls-udp', off, 'mpls');
      if (lv === null) return;
      const ip = decodeMpls(ctx, lv.mpls, off, end, mode);
      if (ip < 0) return;
      lv.hdrLen = ip - off;
      decodeIpByNibble(ctx, lv.net, ip, end, innerMode(mode));
      return;
    }
    default:
      return;
  }
}

/** VXLAN (RFC 7348 §5): flags (I = 0x08), 24-bit VNI, then an Ethernet frame. */
function decodeVxlan(ctx: DecodeCtx, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  if (off + 8 > end) {
    ctx.truncate('vxlan', mode);
    return;
  }
  const lv = ctx.openLevel('vxlan', off, 'vxlan');
  if (lv === null) return;
  lv.hdrLen = 8;
  lv.flags = buf[off]!;
  lv.vni = (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!;
  decodeInnerEthernet(ctx, lv, off + 8, end, mode);
}

/** Geneve (RFC 8926 §3.4): version 0, options length in 4-byte words, protocol type, VNI. */
function decodeGeneve(ctx: DecodeCtx, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  if (off + 8 > end) {
    ctx.truncate('geneve', mode);
    return;
  }
  const b0 = buf[off]!;
  if (b0 >> 6 !== 0) {
    ctx.malformed('geneve', off, 'Geneve version is not 0');
    return;
  }
  const lv = ctx.openLevel('geneve', off, 'geneve');
  if (lv === null) return;
  lv.optLen = (b0 & 0x3f) * 4;
  lv.flags = buf[off + 1]!;
  lv.proto = (buf[off + 2]! << 8) | buf[off + 3]!;
  lv.vni = (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!;
  const hlen = 8 + lv.optLen;
  if (off + hlen > end) {
    ctx.truncate('geneve', mode);
    return;
  }
  lv.hdrLen = hlen;
  decodeLevelPayload(ctx, lv, lv.proto, off + hlen, end, mode);
}

/** GUE header at `off` (the UDP payload). Version 0: 4-byte header + hlen words of
 *  extension fields; version 1 is the header-less form whose first nibble is the IP version. */
export function decodeGue(ctx: DecodeCtx, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  if (off + 1 > end) {
    ctx.truncate('gue', mode);
    return;
  }
  const b0 = buf[off]!;
  const ver = b0 >> 6;
  if (ver === 1) {
    const lv = ctx.openLevel('gue', off, 'gue');
    if (lv === null) return;
    const ipv = b0 >> 4;
    lv.proto = ipv === 4 ? IpProto.IPIP : ipv === 6 ? IpProto.IPV6 : 0;
    if (ipv === 4) decodeIpv4(ctx, lv.net, off, end, innerMode(mode));
    else if (ipv === 6) decodeIpv6(ctx, lv.net, off, end, innerMode(mode));
    return;
  }
  if (ver !== 0) return;
  if (off + 4 > end) {
    ctx.truncate('gue', mode);
    return;
  }
  const lv = ctx.openLevel('gue', off, 'gue');
  if (lv === null) return;
  const control = (b0 & 0x20) !== 0;
  const hlen = 4 + (b0 & 0x1f) * 4;
  const protoCtype = buf[off + 1]!;
  lv.proto = protoCtype;
  lv.flags = control ? 1 : 0;
  if (control) return;
  if (off + hlen > end) {
    ctx.truncate('gue', mode);
    return;
  }
  lv.hdrLen = hlen;
  if (protoCtype === IpProto.IPIP) decodeIpv4(ctx, lv.net, off + hlen, end, innerMode(mode));
  else if (protoCtype === IpProto.IPV6) decodeIpv6(ctx, lv.net, off + hlen, end, innerMode(mode));
}
