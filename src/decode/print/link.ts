/**
 * Link layer: Ethernet (+ 802.1Q/802.1ad tags) and Linux cooked captures (SLL, SLL2).
 * Text: `src > dst, vlan 10, ` / `In ifindex 3 aa:bb:cc:dd:ee:ff, `; JSON: the `eth`, `vlan`
 * and `sll` members of cli.md.
 */
import type { Packet } from '../packet.js';
import { hexColon, mac } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('"eth":{"src":"');
const L1 = litw('","dst":"');
const L2 = litw('","type":');
const L3 = litw('},');
const L4 = litw('"sll":{"version":');
const L5 = litw(',"ifindex":');
const L6 = litw('null');
const L7 = litw(',"pkttype":');
const L8 = litw(',"hatype":');
const L9 = litw(',"addr":');
const L10 = litw(',"protocol":');
const L11 = litw('"vlan":[');
const L12 = litw(',"pcp":');
const L13 = litw(',"dei":');
const L14 = litw(',"tpid":');
const L15 = litw('],');

/** tcpdump's names for the SLL packet types. */
const PKT_TYPE = ['In', 'B', 'M', 'P', 'Out'];

export function sllPktTypeName(t: number): string {
  return PKT_TYPE[t] ?? 'pkttype-' + t;
}

function sllAddr(p: Packet): string {
  const s = p.sll;
  return s.addrLen === 6 ? mac(p.buf, s.addrOff) : hexColon(p.buf, s.addrOff, s.addrLen);
}

function vlanText(p: Packet): string {
  let s = '';
  for (let i = 0; i < p.vlan.count; i++) {
    s += 'vlan ' + p.vlan.id[i]!;
    if (p.vlan.pcp[i]! !== 0) s += ' p ' + p.vlan.pcp[i]!;
    s += ', ';
  }
  return s;
}

/** Everything before the network layer, ending in ", " (or "" for raw/null link types). */
export function linkText(p: Packet): string {
  if (p.eth.present) return mac(p.buf, p.eth.srcOff) + ' > ' + mac(p.buf, p.eth.dstOff) + ', ' + vlanText(p);
  if (p.sll.present) {
    let s = sllPktTypeName(p.sll.pktType);
    if (p.sll.version === 2) s += ' ifindex ' + p.sll.ifIndex;
    if (p.sll.addrLen > 0) s += ' ' + sllAddr(p);
    return s + ', ' + vlanText(p);
  }
  return vlanText(p);
}

/** `"eth":{…},` / `"sll":{…},` / `"vlan":[…],` members, each followed by a comma. */
export function linkJson(o: ByteSink, p: Packet): void {
  const buf = p.buf;
  if (p.eth.present) {
    o.pos = L0(o.buf, o.pos);
    o.hexColon(buf, p.eth.srcOff, 6);
    o.pos = L1(o.buf, o.pos);
    o.hexColon(buf, p.eth.dstOff, 6);
    o.pos = L2(o.buf, o.pos);
    o.uint(p.eth.etherType);
    o.pos = L3(o.buf, o.pos);
  }
  if (p.sll.present) {
    const sl = p.sll;
    o.pos = L4(o.buf, o.pos);
    o.uint(sl.version);
    o.pos = L5(o.buf, o.pos);
    if (sl.version === 2) o.int(sl.ifIndex);
    else o.pos = L6(o.buf, o.pos);
    o.pos = L7(o.buf, o.pos);
    o.uint(sl.pktType);
    o.pos = L8(o.buf, o.pos);
    o.uint(sl.hatype);
    o.pos = L9(o.buf, o.pos);
    if (sl.addrLen > 0) {
      o.byte(34);
      o.hexColon(buf, sl.addrOff, sl.addrLen);
      o.byte(34);
    } else o.pos = L6(o.buf, o.pos);
    o.pos = L10(o.buf, o.pos);
    o.uint(sl.protocol);
    o.pos = L3(o.buf, o.pos);
  }
  if (p.vlan.count > 0) {
    o.pos = L11(o.buf, o.pos);
    for (let i = 0; i < p.vlan.count; i++) {
      o.ascii(i > 0 ? ',{"id":' : '{"id":');
      o.uint(p.vlan.id[i]!);
      o.pos = L12(o.buf, o.pos);
      o.uint(p.vlan.pcp[i]!);
      o.pos = L13(o.buf, o.pos);
      o.uint(p.vlan.dei[i]!);
      o.pos = L14(o.buf, o.pos);
      o.uint(p.vlan.tpid[i]!);
      o.byte(125);
    }
    o.pos = L15(o.buf, o.pos);
  }
}
