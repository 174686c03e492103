/** UDP (RFC 768); GUE (configured ports) and the overlays' ports open an encapsulation level. */
import { fold16, internetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from '../checksum.js';
import { IpProto, type NetLayers } from '../packet.js';
import { M_FRAGMENT, M_TUNNEL, type DecodeCtx } from './context.js';
import { decodeUdpEncap } from './tunnel.js';

export function decodeUdp(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  const u = L.udp;
  L.l4 = 'udp';
  if (off + 8 > end) {
    // An ICMP quote keeps at least the ports; fill what is there.
    if (off + 4 <= end) {
      u.present = true;
      u.off = off;
      u.sport = (buf[off]! << 8) | buf[off + 1]!;
      u.dport = (buf[off + 2]! << 8) | buf[off + 3]!;
      u.length = 0;
      // Not on the wire here; 0 as a fresh view has it (a reused view kept the last packet's).
      u.checksum = 0;
      u.payloadOff = end;
    }
    ctx.truncate('udp', mode);
    return;
  }
  u.present = true;
  u.off = off;
  u.sport = (buf[off]! << 8) | buf[off + 1]!;
  u.dport = (buf[off + 2]! << 8) | buf[off + 3]!;
  const len = (buf[off + 4]! << 8) | buf[off + 5]!;
  u.length = len;
  u.checksum = (buf[off + 6]! << 8) | buf[off + 7]!;
  u.payloadOff = off + 8;
  // What the IP header says follows this header (less than the IP payload after a UOA shim).
  const ipWire = L.ip.payloadWireLen - (off - L.ip.payloadOff);
  if (len < 8) {
    ctx.malformed('udp', off, 'UDP length below 8');
    return;
  }
  const fragment = (mode & M_FRAGMENT) !== 0;
  if (len > ipWire && !fragment) {
    ctx.malformed('udp', off, 'UDP length beyond IP payload');
    return;
  }
  const dEnd = off + len <= end ? off + len : end;
  if (off + len > end) ctx.truncate('udp', mode);
  u.payloadLen = dEnd - u.payloadOff;
  if (ctx.checksums && !fragment) {
    if (u.checksum === 0) {
      // IPv4: zero means "not computed" (RFC 768). IPv6 forbids it (RFC 8200 §8.1) except
      // tunnels (RFC 6935); we report what the bytes say.
      u.checksumOk = L.ip.version === 4;
    } else if (off + len <= end) {
      const ps = L.ip.version === 4
        ? pseudoHeaderSum4(buf, L.ip.srcOff, L.ip.dstOff, IpProto.UDP, len)
        : pseudoHeaderSum6(buf, L.ip.srcOff, ctx.v6PseudoDstOff, IpProto.UDP, len);
      u.checksumOk = internetChecksum(buf, off, len, ps) === 0;
      // TX checksum offload (udp4_hwcsum, udp6_hwcsum): the folded pseudo-header sum alone.
      if (!u.checksumOk) u.checksumPartial = u.checksum === fold16(ps);
    }
  }
  const encap = ctx.udpEncap[u.dport]!;
  if (encap !== 0 && (mode & M_TUNNEL) !== 0) decodeUdpEncap(ctx, encap, u.payloadOff, dEnd, mode);
}
