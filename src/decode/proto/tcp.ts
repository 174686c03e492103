/** TCP (RFC 9293): base header, options (tcp-options.ts), checksum with the pseudo-header. */
import { fold16, internetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from '../checksum.js';
import { IpProto, TcpFlag, type NetLayers } from '../packet.js';
import { M_FRAGMENT, type DecodeCtx } from './context.js';
import { decodeTcpOptions } from './tcp-options.js';

/** Anything carrying TCP flags: a decoded TcpView, or a copy of one that kept them (0 when not TCP). */
export interface TcpFlagged {
  readonly flags: number;
}

const SYN_ACK = TcpFlag.SYN | TcpFlag.ACK;

/** The segment that opens a connection: SYN set, ACK clear. */
export function isSyn(seg: TcpFlagged): boolean {
  return (seg.flags & SYN_ACK) === TcpFlag.SYN;
}

/** The server's answer to it: SYN and ACK both set. */
export function isSynAck(seg: TcpFlagged): boolean {
  return (seg.flags & SYN_ACK) === SYN_ACK;
}

export function decodeTcp(ctx: DecodeCtx, L: NetLayers, off: number, end: number, mode: number): void {
  const { buf } = ctx;
  const t = L.tcp;
  L.l4 = 'tcp';
  const avail = end - off;
  t.off = off;
  t.hdrLen = 0;
  if (avail < 20) {
    // An ICMP error quotes at least 8 bytes (ports and sequence number): keep them, with
    // hdrLen 0 saying the base header is incomplete.
    if (avail >= 8) {
      t.present = true;
      t.sport = (buf[off]! << 8) | buf[off + 1]!;
      t.dport = (buf[off + 2]! << 8) | buf[off + 3]!;
      t.seq = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
      t.ack = 0;
      t.flags = 0;
      t.payloadOff = end;
    }
    ctx.truncate('tcp', mode);
    return;
  }
  t.present = true;
  t.sport = (buf[off]! << 8) | buf[off + 1]!;
  t.dport = (buf[off + 2]! << 8) | buf[off + 3]!;
  t.seq = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  t.ack = ((buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!) >>> 0;
  const b12 = buf[off + 12]!;
  const hdrLen = (b12 >> 4) * 4;
  t.flags = ((b12 & 1) << 8) | buf[off + 13]!;
  t.window = (buf[off + 14]! << 8) | buf[off + 15]!;
  t.checksum = (buf[off + 16]! << 8) | buf[off + 17]!;
  t.urgent = (buf[off + 18]! << 8) | buf[off + 19]!;
  const segWire = L.ip.payloadWireLen;
  if (hdrLen < 20) {
    ctx.malformed('tcp', off, 'data offset below 5');
    t.payloadOff = off + 20;
    t.payloadLen = 0;
    return;
  }
  t.hdrLen = hdrLen;
  t.payloadOff = off + hdrLen <= end ? off + hdrLen : end;
  const fragment = (mode & M_FRAGMENT) !== 0;
  if (hdrLen > segWire && !fragment && segWire > 0) {
    ctx.malformed('tcp', off, 'data offset beyond segment');
    return;
  }
  if (hdrLen > avail) {
    ctx.truncate('tcp', mode);
    decodeTcpOptions(ctx, t, off + 20, off + hdrLen, end, mode);
    return;
  }
  decodeTcpOptions(ctx, t, off + 20, off + hdrLen, end, mode);
  t.payloadWireLen = segWire > hdrLen ? segWire - hdrLen : 0;
  t.payloadLen = end - t.payloadOff;
  if (t.payloadLen > t.payloadWireLen && !fragment) t.payloadLen = t.payloadWireLen;
  // Verifiable only when the whole segment was captured and is not one IP fragment of several.
  if (ctx.checksums && !fragment && avail >= segWire) {
    const ps = L.ip.version === 4
      ? pseudoHeaderSum4(buf, L.ip.srcOff, L.ip.dstOff, IpProto.TCP, segWire)
      : pseudoHeaderSum6(buf, L.ip.srcOff, ctx.v6PseudoDstOff, IpProto.TCP, segWire);
    // The base header's words come from the values just parsed; only options and payload
    // are read again (off + 20 has the same parity as off, so the pairing is unchanged).
    if (segWire >= 20) {
      const seq = t.seq;
      const ack = t.ack;
      const hdr = t.sport + t.dport + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) +
        ((b12 << 8) | buf[off + 13]!) + t.window + t.checksum + t.urgent;
      t.checksumOk = internetChecksum(buf, off + 20, segWire - 20, ps + hdr) === 0;
    } else {
      t.checksumOk = internetChecksum(buf, off, segWire, ps) === 0;
    }
    // Only a wrong checksum pays for this test: a sender with TX offload stores the folded
    // pseudo-header sum and lets the NIC add the rest (__tcp_v4_send_check, tcp_v6_send_check).
    if (!t.checksumOk) t.checksumPartial = t.checksum === fold16(ps);
  }
}
