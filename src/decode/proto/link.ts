/**
 * Link layers: Ethernet II (with 802.3/SNAP), BSD loopback (NULL/LOOP) and the
 * EtherType dispatch shared with the Linux cooked headers.
 */
import { EtherType } from '../packet.js';
import { decodeArp } from './arp.js';
import { MODE_OUTER, type DecodeCtx } from './context.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeIpByNibble, decodeMpls } from './tunnel.js';
import { decodeVlanTags, isVlanTpid } from './vlan.js';

/** Decodes what an EtherType announces at `off` (VLAN tags first). */
export function decodeEtherType(ctx: DecodeCtx, type: number, off: number, end: number): void {
  let t = type;
  let o = off;
  ctx.p.eth.etherType = t;
  if (isVlanTpid(t)) {
    o = decodeVlanTags(ctx, ctx.p.vlan, ctx.p.eth, t, o, end);
    if (o < 0) return;
    t = ctx.p.eth.etherType;
  }
  if (t === EtherType.IPV4) decodeIpv4(ctx, ctx.p.net, o, end, MODE_OUTER);
  else if (t === EtherType.IPV6) decodeIpv6(ctx, ctx.p.net, o, end, MODE_OUTER);
  else if (t === EtherType.ARP) decodeArp(ctx, o, end);
  else if (t === EtherType.RARP) decodeArp(ctx, o, end, true);
  else if (t === EtherType.MPLS || t === EtherType.MPLS_MULTICAST) {
    // A label stack is a shim like a VLAN tag: the IP after it is the frame's outer packet.
    const ip = decodeMpls(ctx, ctx.p.mpls, o, end, 0);
    if (ip >= 0) decodeIpByNibble(ctx, ctx.p.net, ip, end, MODE_OUTER);
  }
}

/** Ethernet II / IEEE 802.3 frame at `off`. */
export function decodeEthernet(ctx: DecodeCtx, off: number, end: number): void {
  const { p, buf } = ctx;
  if (off + 14 > end) {
    ctx.truncate('link', 0);
    return;
  }
  const eth = p.eth;
  eth.present = true;
  eth.off = off;
  eth.dstOff = off;
  eth.srcOff = off + 6;
  let type = (buf[off + 12]! << 8) | buf[off + 13]!;
  let o = off + 14;
  if (type < 0x0600) {
    // 802.3 length field: only LLC/SNAP with an EtherType (OUI 00-00-00) carries IP for us.
    if (o + 8 <= end && buf[o] === 0xaa && buf[o + 1] === 0xaa && buf[o + 2] === 0x03 &&
      buf[o + 3] === 0 && buf[o + 4] === 0 && buf[o + 5] === 0) {
      type = (buf[o + 6]! << 8) | buf[o + 7]!;
      o += 8;
    } else {
      eth.etherType = type;
      return;
    }
  }
  decodeEtherType(ctx, type, o, end);
}

/** DLT_NULL (host byte order) and DLT_LOOP (network order) 4-byte address family header.
 *  Both byte orders are accepted for both: captures move between hosts of either endianness. */
export function decodeNullLoop(ctx: DecodeCtx, off: number, end: number): void {
  const { buf } = ctx;
  if (off + 4 > end) {
    ctx.truncate('link', 0);
    return;
  }
  const le = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24);
  const be = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  const af = (le & 0xffff0000) === 0 ? le : be;
  const o = off + 4;
  if (af === 2) decodeIpv4(ctx, ctx.p.net, o, end, MODE_OUTER);
  else if (af === 24 || af === 28 || af === 30) decodeIpv6(ctx, ctx.p.net, o, end, MODE_OUTER);
}

/** LINKTYPE_RAW: the IP version nibble tells the family. */
export function decodeRawIp(ctx: DecodeCtx, off: number, end: number): void {
  if (off >= end) {
    ctx.truncate('link', 0);
    return;
  }
  const v = ctx.buf[off]! >> 4;
  if (v === 4) decodeIpv4(ctx, ctx.p.net, off, end, MODE_OUTER);
  else if (v === 6) decodeIpv6(ctx, ctx.p.net, off, end, MODE_OUTER);
  else ctx.malformed('link', off, 'raw IP with version neither 4 nor 6');
}
