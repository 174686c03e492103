/**
 * ICMP errors the director itself sends (lvs-behavior.md §1.2 steps 3 and 5, §1.7):
 * time exceeded (11/0) when TTL ≤ 1, fragmentation needed (3/4, next-hop MTU) for an oversize DF
 * packet, port unreachable (3/3) when no destination is available. Built like Linux icmp_send:
 * the quote is as much of the offending IP packet as fits a 576-byte reply, TOS is the
 * offender's TOS bits with precedence "internetwork control" (0xc0), TTL 64, DF clear.
 */
import { ipv4ToString } from '../../decode/addr.js';
import { PacketBuilder } from '../builder/index.js';

/** 576 − 20 (IP) − 8 (ICMP): the most of the original a Linux ICMP error quotes. */
export const ICMP_QUOTE_MAX = 548;

export function icmpError(orig: Buffer, type: number, code: number, src: number, dst: number, id: number, mtu?: number): Buffer {
  const tot = Math.min(orig.readUInt16BE(2), orig.length);
  const quote = orig.subarray(0, Math.min(tot, ICMP_QUOTE_MAX));
  const tos = 0xc0 | (orig[1]! & 0x1e);
  const spec = mtu === undefined ? { type, code, quote } : { type, code, quote, mtu };
  return PacketBuilder.raw()
    .ipv4({ src: ipv4ToString(src), dst: ipv4ToString(dst), ttl: 64, id, tos, df: false })
    .icmp(spec)
    .build();
}

/** TCP RST from the director's own stack to an ACK nobody listens for (RFC 793: seq = SEG.ACK). */
export function tcpRstFor(orig: Buffer, srcIp: number, dstIp: number): Buffer {
  const ihl = (orig[0]! & 15) * 4;
  const sport = orig.readUInt16BE(ihl + 2);
  const dport = orig.readUInt16BE(ihl);
  const flags = orig[ihl + 13]!;
  const seq = orig.readUInt32BE(ihl + 4);
  const ack = orig.readUInt32BE(ihl + 8);
  const tot = orig.readUInt16BE(2);
  const dataOff = (orig[ihl + 12]! >> 4) * 4;
  const segLen = tot - ihl - dataOff + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0);
  const hasAck = (flags & 0x10) !== 0;
  return PacketBuilder.raw()
    .ipv4({ src: ipv4ToString(srcIp), dst: ipv4ToString(dstIp), ttl: 64, id: 0, df: true })
    .tcp(hasAck ? { sport, dport, seq: ack, ack: 0, flags: 'R', window: 0 } : { sport, dport, seq: 0, ack: (seq + segLen) >>> 0, flags: 'RA', window: 0 })
    .build();
}
