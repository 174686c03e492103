/** IPv6 (RFC 8200): fixed header and the extension-header chain up to the upper layer. */
import type { NetLayers } from '../packet.js';
import { M_FRAGMENT, M_QUIET, type DecodeCtx } from './context.js';
import { decodeL4 } from './l4.js';

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AH = 51;
const DEST_OPTS = 60;
const MOBILITY = 135;
const HIP = 139;
const SHIM6 = 140;
const NO_NEXT = 59;

function isExtension(nh: number): boolean {
  return nh === HOP_BY_HOP || nh === ROUTING || nh === FRAGMENT || nh === DEST_OPTS || nh === AH ||
    nh === MOBILITY || nh === HIP || nh === SHIM6;
}

export function decodeIpv6(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  if (L !== ctx.p.net) ctx.nestedUsed = true;
  const avail = end - off;
  if (avail < 40) {
    ctx.truncate('ipv6', mode);
    return;
  }
  const b0 = buf[off]!;
  if (b0 >> 4 !== 6) {
    ctx.malformed('ipv6', off, 'IP version is not 6');
    return;
  }
  const ip = L.ip;
  ip.version = 6;
  ip.off = off;
  ip.tos = ((b0 & 15) << 4) | (buf[off + 1]! >> 4);
  ip.flowLabel = ((buf[off + 1]! & 15) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  const plen = (buf[off + 4]! << 8) | buf[off + 5]!;
  let nh = buf[off + 6]!;
  ip.ttl = buf[off + 7]!;
  ip.srcOff = off + 8;
  ip.dstOff = off + 24;
  ip.src4 = 0;
  ip.dst4 = 0;
  ip.checksum = 0;
  ip.id = 0;
  ip.df = false;
  ip.mf = false;
  ip.fragOffset = 0;
  ip.optionsLen = 0;
  ctx.v6PseudoDstOff = off + 24;
  // payload_len 0 with a hop-by-hop header is a jumbogram (RFC 2675): take what was captured.
  const totLen = plen === 0 && nh === HOP_BY_HOP ? avail : 40 + plen;
  ip.totalLen = totLen;
  let pEnd = off + totLen;
  let m = mode;
  if (totLen > avail) {
    ctx.truncate('ipv6', mode);
    pEnd = end;
  }
  let o = off + 40;
  let pseudoDst = off + 24;
  let later = false; // a fragment that does not start at offset 0
  while (isExtension(nh)) {
    if (o + 8 > pEnd) {
      ctx.truncate('ipv6-ext', m);
      ip.hdrLen = o - off;
      ip.proto = nh;
      finish(ip, o, pEnd, totLen, off);
      L.l4 = 'other';
      return;
    }
    const next = buf[o]!;
    let len: number;
    if (nh === FRAGMENT) {
      len = 8;
      const fo = (buf[o + 2]! << 8) | buf[o + 3]!;
      ip.fragOffset = fo & 0xfff8;
      ip.mf = (fo & 1) !== 0;
      ip.isFragment = true;
      ip.id = ((buf[o + 4]! << 24) | (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!) >>> 0;
      m |= M_QUIET | M_FRAGMENT;
      if (ip.fragOffset !== 0) later = true;
    } else if (nh === AH) {
      len = (buf[o + 1]! + 2) * 4;
    } else {
      len = (buf[o + 1]! + 1) * 8;
      if (nh === ROUTING && o + len <= pEnd && buf[o + 3]! > 0) {
        // Segments left > 0: the pseudo-header uses the final destination.
        const rtype = buf[o + 2]!;
        if (rtype === 0 && len >= 24) pseudoDst = o + len - 16; // last listed address
        else if (rtype === 2 && len >= 24) pseudoDst = o + 8; // home address
        else if (rtype === 4 && len >= 24) pseudoDst = o + 8; // SRH: segment[0] is the last hop
      }
    }
    if (o + len > pEnd) {
      if (o + len > off + totLen) ctx.malformed('ipv6-ext', o, 'extension header beyond payload length');
      else ctx.truncate('ipv6-ext', m);
      ip.hdrLen = o - off;
      ip.proto = nh;
      finish(ip, o, pEnd, totLen, off);
      L.l4 = 'other';
      return;
    }
    o += len;
    nh = next;
    if (later) break;
  }
  ip.hdrLen = o - off;
  ip.proto = nh;
  ip.optionsLen = o - off - 40;
  finish(ip, o, pEnd, totLen, off);
  ctx.v6PseudoDstOff = pseudoDst;
  if (later || nh === NO_NEXT) {
    L.l4 = 'other';
    return;
  }
  decodeL4(ctx, L, nh, o, pEnd, m);
}

function finish(ip: NetLayers['ip'], payloadOff: number, pEnd: number, totLen: number, off: number): void {
  ip.payloadOff = payloadOff;
  ip.payloadLen = pEnd > payloadOff ? pEnd - payloadOff : 0;
  const wire = off + totLen - payloadOff;
  ip.payloadWireLen = wire > 0 ? wire : 0;
}
