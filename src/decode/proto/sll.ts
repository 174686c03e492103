/**
 * Linux cooked capture headers (`tcpdump -i any`): LINUX_SLL (16 bytes) and LINUX_SLL2
 * (20 bytes, adds the interface index). The packet type gives the direction, which the
 * director-side rules need to tell VIP-bound from RIP-bound traffic on one capture.
 */
import type { DecodeCtx } from './context.js';
import { decodeEtherType } from './link.js';

/** Packet types of `struct sockaddr_ll` (linux/if_packet.h). */
export const SllPacketType = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const;

function setDirection(ctx: DecodeCtx, pktType: number): void {
  const p = ctx.p;
  if (p.direction !== null) return; // pcapng epb_flags already said
  if (pktType === SllPacketType.OUTGOING) p.direction = 'out';
  else if (pktType <= SllPacketType.OTHERHOST) p.direction = 'in';
}

/** Protocol values below 0x0600 are not EtherTypes (ETH_P_802_3, ETH_P_802_2, CAN, …): stop. */
function dispatch(ctx: DecodeCtx, protocol: number, off: number, end: number): void {
  if (protocol >= 0x0600) decodeEtherType(ctx, protocol, off, end);
  else ctx.p.eth.etherType = protocol;
}

export function decodeSll(ctx: DecodeCtx, off: number, end: number): void {
  const { p, buf } = ctx;
  if (off + 16 > end) {
    ctx.truncate('link', 0);
    return;
  }
  const s = p.sll;
  s.present = true;
  s.version = 1;
  s.off = off;
  s.pktType = (buf[off]! << 8) | buf[off + 1]!;
  s.hatype = (buf[off + 2]! << 8) | buf[off + 3]!;
  const halen = (buf[off + 4]! << 8) | buf[off + 5]!;
  s.addrOff = off + 6;
  s.addrLen = halen > 8 ? 8 : halen;
  s.ifIndex = -1;
  s.protocol = (buf[off + 14]! << 8) | buf[off + 15]!;
  setDirection(ctx, s.pktType);
  dispatch(ctx, s.protocol, off + 16, end);
}

export function decodeSll2(ctx: DecodeCtx, off: number, end: number): void {
  const { p, buf } = ctx;
  if (off + 20 > end) {
    ctx.truncate('link', 0);
    return;
  }
  const s = p.sll;
  s.present = true;
  s.version = 2;
  s.off = off;
  s.protocol = (buf[off]! << 8) | buf[off + 1]!;
  s.ifIndex = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  s.hatype = (buf[off + 8]! << 8) | buf[off + 9]!;
  s.pktType = buf[off + 10]!;
  const halen = buf[off + 11]!;
  s.addrOff = off + 12;
  s.addrLen = halen > 8 ? 8 : halen;
  setDirection(ctx, s.pktType);
  dispatch(ctx, s.protocol, off + 20, end);
}
