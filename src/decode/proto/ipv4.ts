/** IPv4 (RFC 791): header, options, fragments, header checksum. */
import { fold16, internetChecksum } from '../checksum.js';
import type { NetLayers } from '../packet.js';
import { M_FRAGMENT, M_OUTER, M_QUIET, type DecodeCtx } from './context.js';
import { decodeL4 } from './l4.js';
import { decodeIpv4Options } from './uoa.js';

export function decodeIpv4(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  if (L !== ctx.p.net) ctx.nestedUsed = true;
  const avail = end - off;
  if (avail < 20) {
    ctx.truncate('ipv4', mode);
    return;
  }
  const b0 = buf[off]!;
  if (b0 >> 4 !== 4) {
    ctx.malformed('ipv4', off, 'IP version is not 4');
    return;
  }
  const ip = L.ip;
  const ihl = (b0 & 15) * 4;
  ip.version = 4;
  ip.off = off;
  ip.hdrLen = ihl;
  ip.tos = buf[off + 1]!;
  let totLen = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (totLen === 0 && (mode & M_OUTER) !== 0) {
    // Outbound TSO / IPv4 BIG TCP (Linux ≥ 6.3) leaves tot_len 0 in the captured super-packet;
    // tcpdump and tshark then take the frame's length, and so do we (outer header only).
    const wireLeft = ctx.p.len - (off - ctx.p.off);
    totLen = wireLeft > 0 ? wireLeft : avail;
  }
  ip.totalLen = totLen;
  ip.id = (buf[off + 4]! << 8) | buf[off + 5]!;
  const frag = (buf[off + 6]! << 8) | buf[off + 7]!;
  ip.df = (frag & 0x4000) !== 0;
  ip.mf = (frag & 0x2000) !== 0;
  ip.fragOffset = (frag & 0x1fff) * 8;
  ip.isFragment = ip.mf || ip.fragOffset !== 0;
  ip.ttl = buf[off + 8]!;
  ip.proto = buf[off + 9]!;
  ip.checksum = (buf[off + 10]! << 8) | buf[off + 11]!;
  ip.srcOff = off + 12;
  ip.dstOff = off + 16;
  ip.src4 = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
  ip.dst4 = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
  ip.flowLabel = 0;
  ip.optionsLen = ihl > 20 ? ihl - 20 : 0;
  ip.payloadOff = off + ihl <= end ? off + ihl : end;
  ip.payloadLen = 0;
  ip.payloadWireLen = 0;
  if (ihl < 20) {
    ctx.malformed('ipv4', off, 'IHL below 5');
    return;
  }
  if (avail < ihl) {
    ctx.truncate('ipv4', mode);
    return;
  }
  if (ctx.checksums) {
    // The 20 fixed bytes were all just read: sum their 16-bit words from those values
    // instead of reading the header again (the same sum, so the same verdict).
    const fixed = ((b0 << 8) | ip.tos) + ((buf[off + 2]! << 8) | buf[off + 3]!) + ip.id + frag +
      ((ip.ttl << 8) | ip.proto) + ip.checksum +
      (ip.src4 >>> 16) + (ip.src4 & 0xffff) + (ip.dst4 >>> 16) + (ip.dst4 & 0xffff);
    ip.checksumOk = (ihl === 20 ? fold16(fixed) === 0xffff : internetChecksum(buf, off + 20, ihl - 20, fixed) === 0);
  }
  if (ihl > 20) decodeIpv4Options(ctx, L, off, off + ihl);
  if (totLen < ihl) {
    ctx.malformed('ipv4', off, 'total length below header length');
    return;
  }
  let payloadEnd = off + totLen;
  if (totLen > avail) {
    ctx.truncate('ipv4', mode);
    payloadEnd = end;
  }
  ip.payloadWireLen = totLen - ihl;
  ip.payloadLen = payloadEnd - ip.payloadOff;
  // Only the first fragment carries the L4 header; later ones are opaque bytes.
  if (ip.fragOffset !== 0) {
    L.l4 = 'other';
    return;
  }
  const m = ip.isFragment ? mode | M_QUIET | M_FRAGMENT : mode;
  decodeL4(ctx, L, ip.proto, ip.payloadOff, payloadEnd, m);
}
