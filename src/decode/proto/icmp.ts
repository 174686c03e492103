/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443). Error messages quote the offending packet, which
 * is decoded into `packet.quoted` in quiet mode: quotes are cut by design (RFC 792: header
 * plus 8 bytes), so a short quote is neither truncated nor malformed.
 */
import { internetChecksum, pseudoHeaderSum6 } from '../checksum.js';
import { IpProto, type NetLayers } from '../packet.js';
import { MODE_QUOTED, M_FRAGMENT, M_QUOTE, type DecodeCtx } from './context.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';

function isError4(type: number): boolean {
  // unreachable, source quench, redirect, time exceeded, parameter problem
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

function isError6(type: number): boolean {
  // unreachable, packet too big, time exceeded, parameter problem
  return type >= 1 && type <= 4;
}

/**
 * Offset of the MAC in the Ethernet link-layer address option of `kind` (1 source, 2 target)
 * among the neighbor discovery options from `o` to `end`, or −1. A zero-length option is
 * malformed and ends the walk (RFC 4861 §4.6).
 */
function linkAddrOption(buf: Uint8Array, o: number, end: number, kind: number): number {
  while (o + 2 <= end) {
    const len = buf[o + 1]! * 8;
    if (len === 0 || o + len > end) return -1;
    if (buf[o] === kind && len === 8) return o + 2;
    o += len;
  }
  return -1;
}

export function decodeIcmp(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number, version: 4 | 6): void {
  const { p, buf } = ctx;
  const c = L.icmp;
  L.l4 = version === 4 ? 'icmp' : 'icmpv6';
  const layer = version === 4 ? 'icmp' : 'icmpv6';
  if (off + 4 > end) {
    ctx.truncate(layer, mode);
    return;
  }
  c.present = true;
  c.version = version;
  c.off = off;
  c.type = buf[off]!;
  c.code = buf[off + 1]!;
  c.checksum = (buf[off + 2]! << 8) | buf[off + 3]!;
  const wire = L.ip.payloadWireLen;
  if (ctx.checksums && (mode & M_FRAGMENT) === 0 && end - off >= wire && wire >= 4) {
    const ps = version === 6 ? pseudoHeaderSum6(buf, L.ip.srcOff, ctx.v6PseudoDstOff, IpProto.ICMPV6, wire) : 0;
    c.checksumOk = internetChecksum(buf, off, wire, ps) === 0;
  }
  if (off + 8 > end) {
    ctx.truncate(layer, mode);
    return;
  }
  const t = c.type;
  if (version === 4) {
    if (t === 0 || t === 8 || t === 13 || t === 14 || t === 15 || t === 16) {
      c.echoId = (buf[off + 4]! << 8) | buf[off + 5]!;
      c.echoSeq = (buf[off + 6]! << 8) | buf[off + 7]!;
    } else if (t === 3 && c.code === 4) {
      c.mtu = (buf[off + 6]! << 8) | buf[off + 7]!;
    }
    if (!isError4(t)) return;
  } else {
    if (t === 128 || t === 129) {
      c.echoId = (buf[off + 4]! << 8) | buf[off + 5]!;
      c.echoSeq = (buf[off + 6]! << 8) | buf[off + 7]!;
    } else if (t === 2) {
      c.mtu = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
    } else if ((t === 135 || t === 136) && c.code === 0 && off + 24 <= end) {
      c.ndTargetOff = off + 8;
      c.ndFlags = buf[off + 4]!;
      c.ndLinkAddrOff = linkAddrOption(buf, off + 24, Math.min(end, off + L.ip.payloadWireLen), t === 135 ? 1 : 2);
    }
    if (!isError6(t)) return;
  }
  if ((mode & M_QUOTE) === 0 || p.quoted.present) return;
  const q = off + 8;
  if (q >= end) return;
  c.hasQuoted = true;
  const v = buf[q]! >> 4;
  if (v === 4) decodeIpv4(ctx, p.quoted, q, end, MODE_QUOTED);
  else if (v === 6) decodeIpv6(ctx, p.quoted, q, end, MODE_QUOTED);
  else c.hasQuoted = false;
}
