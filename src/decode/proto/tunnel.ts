/**
 * IPVS TUN-mode encapsulations (lvs-behavior.md §1.5): IPIP (4), SIT/6in4 (41) over IPv4
 * and IPv6, GRE (47, RFC 2784/2890) and GUE (draft-ietf-intarea-gue, on configured UDP
 * ports). The carried packet goes to `packet.inner`; tunnels inside it are not opened.
 */
import { EtherType, IpProto, type NetLayers } from '../packet.js';
import { MODE_INNER, M_QUIET, type DecodeCtx } from './context.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';

/** Inner stack mode: keeps the outer's quietness (a fragment's inner packet is short by design). */
function innerMode(mode: number): number {
  return MODE_INNER | (mode & M_QUIET);
}

export function decodeIpInIp(ctx: DecodeCtx, outer: NetLayers, proto: number, off: number, end: number, mode: number): void {
  const p = ctx.p;
  const v6outer = outer.ip.version === 6;
  if (proto === IpProto.IPIP) {
    p.tunnel = v6outer ? 'ip6ip' : 'ipip';
    decodeIpv4(ctx, p.inner, off, end, innerMode(mode));
  } else {
    p.tunnel = v6outer ? 'ip6ip6' : 'sit';
    decodeIpv6(ctx, p.inner, off, end, innerMode(mode));
  }
  p.tunnelHdrOff = off;
}

const GRE_C = 0x8000;
const GRE_R = 0x4000;
const GRE_K = 0x2000;
const GRE_S = 0x1000;

export function decodeGre(ctx: DecodeCtx, off: number, end: number, mode: number): void {
  const { p, buf } = ctx;
  if (off + 4 > end) {
    ctx.truncate('gre', mode);
    return;
  }
  p.tunnel = 'gre';
  p.tunnelHdrOff = off;
  const flags = (buf[off]! << 8) | buf[off + 1]!;
  const proto = (buf[off + 2]! << 8) | buf[off + 3]!;
  if ((flags & 7) !== 0) return; // version 1 is PPTP's enhanced GRE: not an IPVS tunnel
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
  if (proto === EtherType.IPV4) decodeIpv4(ctx, p.inner, off + hlen, end, innerMode(mode));
  else if (proto === EtherType.IPV6) decodeIpv6(ctx, p.inner, off + hlen, end, innerMode(mode));
}

/** GUE header at `off` (the UDP payload). Version 0: 4-byte header + hlen words of
 *  extension fields; version 1 is the header-less form whose first nibble is the IP version. */
export function decodeGue(ctx: DecodeCtx, off: number, end: number, mode: number): void {
  const { p, buf } = ctx;
  if (off + 1 > end) {
    ctx.truncate('gue', mode);
    return;
  }
  const b0 = buf[off]!;
  const ver = b0 >> 6;
  if (ver === 1) {
    p.tunnel = 'gue';
    p.tunnelHdrOff = off;
    const ipv = b0 >> 4;
    if (ipv === 4) decodeIpv4(ctx, p.inner, off, end, innerMode(mode));
    else if (ipv === 6) decodeIpv6(ctx, p.inner, off, end, innerMode(mode));
    return;
  }
  if (ver !== 0) return;
  if (off + 4 > end) {
    ctx.truncate('gue', mode);
    return;
  }
  p.tunnel = 'gue';
  p.tunnelHdrOff = off;
  const control = (b0 & 0x20) !== 0;
  const hlen = 4 + (b0 & 0x1f) * 4;
  const protoCtype = buf[off + 1]!;
  if (control) return;
  if (off + hlen > end) {
    ctx.truncate('gue', mode);
    return;
  }
  if (protoCtype === IpProto.IPIP) decodeIpv4(ctx, p.inner, off + hlen, end, innerMode(mode));
  else if (protoCtype === IpProto.IPV6) decodeIpv6(ctx, p.inner, off + hlen, end, innerMode(mode));
}
