/** IEEE 802.1Q / 802.1ad VLAN tags (TPID 0x8100, 0x88a8 and the pre-standard 0x9100). */
import { EtherType, MAX_VLAN, type EthernetView, type VlanView } from '../packet.js';
import type { DecodeCtx } from './context.js';

export function isVlanTpid(type: number): boolean {
  return type === EtherType.VLAN || type === EtherType.QINQ || type === EtherType.QINQ_OLD;
}

/**
 * Reads the tag stack starting at `off` (the 2-byte TCI that follows a VLAN TPID) into `v`
 * (the frame's, or an encapsulated Ethernet frame's). Returns the offset after the last tag,
 * or -1 when the stack is cut or too deep; the EtherType after the stack is left in
 * `eth.etherType`.
 */
export function decodeVlanTags(ctx: DecodeCtx, v: VlanView, eth: EthernetView, tpid: number, off: number, end: number, mode = 0): number {
  const { buf } = ctx;
  let type = tpid;
  let o = off;
  while (isVlanTpid(type)) {
    if (v.count >= MAX_VLAN) {
      ctx.malformed('vlan', o, 'more than 4 VLAN tags');
      return -1;
    }
    if (o + 4 > end) {
      ctx.truncate('vlan', mode);
      return -1;
    }
    const tci = (buf[o]! << 8) | buf[o + 1]!;
    const i = v.count++;
    v.tpid[i] = type;
    v.pcp[i] = tci >> 13;
    v.dei[i] = (tci >> 12) & 1;
    v.id[i] = tci & 0x0fff;
    type = (buf[o + 2]! << 8) | buf[o + 3]!;
    o += 4;
  }
  eth.etherType = type;
  return o;
}
