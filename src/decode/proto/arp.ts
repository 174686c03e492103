/**
 * ARP (RFC 826) and RARP (RFC 903: the same header under EtherType 0x8035, ops 3 and 4).
 * Director ARP rules (lvs-behavior.md §4) read only Ethernet/IPv4 ARP, never RARP.
 */
import type { ArpView } from '../packet.js';
import type { DecodeCtx } from './context.js';

/** ARP at `off` into `a`: the frame's (`packet.arp`) or an encapsulated Ethernet frame's. */
export function decodeArp(ctx: DecodeCtx, off: number, end: number, reverse = false, a: ArpView = ctx.p.arp, mode = 0): void {
  const { buf } = ctx;
  if (off + 8 > end) {
    ctx.truncate('arp', mode);
    return;
  }
  a.present = true;
  a.reverse = reverse;
  a.off = off;
  a.htype = (buf[off]! << 8) | buf[off + 1]!;
  a.ptype = (buf[off + 2]! << 8) | buf[off + 3]!;
  a.hlen = buf[off + 4]!;
  a.plen = buf[off + 5]!;
  a.op = (buf[off + 6]! << 8) | buf[off + 7]!;
  a.shaOff = off + 8;
  a.spaOff = a.shaOff + a.hlen;
  a.thaOff = a.spaOff + a.plen;
  a.tpaOff = a.thaOff + a.hlen;
  if (a.tpaOff + a.plen > end) {
    // Address fields cut: offsets stay for what is there, no IPv4 verdicts are made.
    ctx.truncate('arp', mode);
    return;
  }
  if (a.plen === 4) {
    a.spa = ((buf[a.spaOff]! << 24) | (buf[a.spaOff + 1]! << 16) | (buf[a.spaOff + 2]! << 8) | buf[a.spaOff + 3]!) >>> 0;
    a.tpa = ((buf[a.tpaOff]! << 24) | (buf[a.tpaOff + 1]! << 16) | (buf[a.tpaOff + 2]! << 8) | buf[a.tpaOff + 3]!) >>> 0;
    a.gratuitous = !reverse && a.spa !== 0 && a.spa === a.tpa;
    a.probe = !reverse && a.op === 1 && a.spa === 0;
  } else {
    a.spa = 0;
    a.tpa = 0;
  }
  a.isEthIpv4 = !reverse && a.htype === 1 && a.ptype === 0x0800 && a.hlen === 6 && a.plen === 4;
}
